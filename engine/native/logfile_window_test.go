package native

import (
	"bytes"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

// --since and --until bound the entries shown: since inclusive, until
// exclusive, as docker's.
func TestLogWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) string { return t0.Add(d).Format(supervisor.LogTimeFormat) }
	var out bytes.Buffer
	p := &logPrinter{stdout: &out, stderr: &out, since: at(time.Second), until: at(3 * time.Second)}
	for i, text := range []string{"zero", "one", "two", "three"} {
		line := at(time.Duration(i)*time.Second) + " stdout F " + text
		if err := p.entry([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "one\ntwo\n" {
		t.Errorf("shown:\n%s", out.String())
	}
	if _, err := parseSince("soon", t0); err == nil {
		t.Error("a bad time was taken")
	}
}
