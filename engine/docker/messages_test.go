package docker

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestReadMessages(t *testing.T) {
	stream := `{"status":"Pulling from library/redis","id":"7"}
{"status":"Downloading","id":"abc","progress":"[=>   ] 1MB/10MB","progressDetail":{"current":1,"total":10}}
{"stream":"Step 1/2 : FROM busybox\n"}
{"stream":"\n"}
{"aux":{"ID":"sha256:123"}}
{"status":"Digest: sha256:beef"}
`
	var lines []string
	var aux []string
	err := readMessages(strings.NewReader(stream), func(s string) { lines = append(lines, s) }, func(r json.RawMessage) { aux = append(aux, string(r)) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"7: Pulling from library/redis", "abc: Downloading [=>   ] 1MB/10MB", "Step 1/2 : FROM busybox", "Digest: sha256:beef"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %q\nwant %q", lines, want)
	}
	if !reflect.DeepEqual(aux, []string{`{"ID":"sha256:123"}`}) {
		t.Errorf("aux = %q", aux)
	}
}

func TestReadMessagesError(t *testing.T) {
	for _, stream := range []string{
		`{"status":"Pulling"}` + "\n" + `{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}` + "\n",
		`{"error":"manifest unknown"}`,
	} {
		err := readMessages(strings.NewReader(stream), nil, nil)
		if err == nil || err.Error() != "manifest unknown" {
			t.Errorf("readMessages(%q) = %v, want the stream's error", stream, err)
		}
	}
	if err := readMessages(strings.NewReader("{not json"), nil, nil); err == nil {
		t.Error("garbage stream accepted")
	}
}
