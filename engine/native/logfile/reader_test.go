package logfile

import (
	"bytes"
	"testing"
	"time"
)

// --since and --until bound the entries shown: since inclusive, until
// exclusive, as docker's.
func TestLogWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) string { return t0.Add(d).Format(TimeFormat) }
	var out bytes.Buffer
	p := &Printer{Stdout: &out, Stderr: &out, since: at(time.Second), until: at(3 * time.Second)}
	for i, text := range []string{"zero", "one", "two", "three"} {
		line := at(time.Duration(i)*time.Second) + " stdout F " + text
		if err := p.Entry([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "one\ntwo\n" {
		t.Errorf("shown:\n%s", out.String())
	}
	if _, err := ParseSince("soon", t0); err == nil {
		t.Error("a bad time was taken")
	}
}
