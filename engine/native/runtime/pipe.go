package runtime

import (
	"encoding/json"
	"io"
)

// writeJSON writes v as one JSON document, the configuration format of
// every role.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
