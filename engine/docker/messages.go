package docker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// message is one line of the daemon's JSON progress stream (pull, push,
// build, import). It is decoded here rather than with pkg/jsonmessage,
// which pulls in terminal rendering this library does not need.
type message struct {
	Stream   string `json:"stream"`
	Status   string `json:"status"`
	ID       string `json:"id"`
	Progress string `json:"progress"`
	Error    *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
	ErrorMessage string          `json:"error"`
	Aux          json.RawMessage `json:"aux"`
}

// readMessages reads the stream to its end, reporting each status or
// stream line to progress (when not nil) and each aux payload to aux. An
// error message in the stream ends the read and is returned.
func readMessages(r io.Reader, progress func(string), aux func(json.RawMessage)) error {
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read progress stream: %w", err)
		}
		if m.Error != nil && m.Error.Message != "" {
			return errors.New(m.Error.Message)
		}
		if m.ErrorMessage != "" {
			return errors.New(m.ErrorMessage)
		}
		if len(m.Aux) > 0 && aux != nil {
			aux(m.Aux)
		}
		if progress == nil {
			continue
		}
		if line := formatMessage(m); line != "" {
			progress(line)
		}
	}
}

func formatMessage(m message) string {
	if m.Stream != "" {
		return strings.TrimRight(m.Stream, "\r\n")
	}
	if m.Status == "" {
		return ""
	}
	s := m.Status
	if m.ID != "" {
		s = m.ID + ": " + s
	}
	if m.Progress != "" {
		s += " " + m.Progress
	}
	return s
}
