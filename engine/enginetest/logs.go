package enginetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// testLogOptions is hoist logs' flags: a follow streams what comes until
// the container exits; tail counts lines from the end, since and until
// bound them by time, and timestamps prefix each with its RFC 3339 time.
// The output is written into the container's own streams by exec, so the
// test knows when each line came.
func testLogOptions(t *testing.T, h *harness) {
	// No init: the test writes to the output of sleep, the container's
	// first process (an init may keep others out of its /proc/1/fd).
	id := h.run(h.spec(h.service("app", "sleep", "600")))
	h.wait(id, engine.WaitRunning)
	start := time.Now()
	stdout, stderr := newStreamBuffer(), newStreamBuffer()
	followed := make(chan error, 1)
	go func() {
		followed <- h.b.Logs(h.ctx(), id, engine.LogOptions{Follow: true, Tail: "all"}, stdout, stderr)
	}()
	h.mustExec(id, "echo one >> /proc/1/fd/1; echo two >> /proc/1/fd/1; echo err >> /proc/1/fd/2")
	stdout.waitFor(t, "one\ntwo\n")
	stderr.waitFor(t, "err\n")
	// The engine has stamped what the follow got: everything after this
	// is later.
	mark := time.Now()
	h.mustExec(id, "echo three >> /proc/1/fd/1")
	stdout.waitFor(t, "three\n")
	if k, ok := h.b.(engine.Killer); ok {
		if err := k.Kill(h.ctx(), id, "SIGKILL"); err != nil {
			t.Fatalf("Kill: %v", err)
		}
	} else if err := h.b.StopContainer(h.ctx(), id, 0); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	select {
	case err := <-followed:
		if err != nil {
			t.Fatalf("Logs with Follow: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("Logs with Follow did not end when the container exited")
	}
	if stdout.String() != "one\ntwo\nthree\n" || stderr.String() != "err\n" {
		t.Errorf("followed stdout %q stderr %q", stdout.String(), stderr.String())
	}
	end := time.Now()

	logs := func(opts engine.LogOptions) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := h.b.Logs(h.ctx(), id, opts, &out, &errOut); err != nil {
			t.Fatalf("Logs %+v: %v", opts, err)
		}
		return out.String(), errOut.String()
	}
	at := mark.UTC().Format(time.RFC3339Nano)
	for _, tc := range []struct {
		name         string
		opts         engine.LogOptions
		stdout, errs string
	}{
		{"all", engine.LogOptions{Tail: "all"}, "one\ntwo\nthree\n", "err\n"},
		{"no tail", engine.LogOptions{}, "one\ntwo\nthree\n", "err\n"},
		{"tail 1", engine.LogOptions{Tail: "1"}, "three\n", ""},
		{"tail 0", engine.LogOptions{Tail: "0"}, "", ""},
		{"since", engine.LogOptions{Since: at}, "three\n", ""},
		{"until", engine.LogOptions{Until: at}, "one\ntwo\n", "err\n"},
		{"since a duration", engine.LogOptions{Since: "1h"}, "one\ntwo\nthree\n", "err\n"},
	} {
		if out, errOut := logs(tc.opts); out != tc.stdout || errOut != tc.errs {
			t.Errorf("%s (%+v): stdout %q stderr %q, want %q and %q", tc.name, tc.opts, out, errOut, tc.stdout, tc.errs)
		}
	}
	out, errOut := logs(engine.LogOptions{Timestamps: true})
	for _, l := range strings.SplitAfter(out+errOut, "\n") {
		if l == "" {
			continue
		}
		ts, text, _ := strings.Cut(strings.TrimSuffix(l, "\n"), " ")
		when, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || when.Before(start.Add(-time.Second)) || when.After(end.Add(time.Second)) {
			t.Errorf("timestamped line %q: %q is no RFC 3339 time of the run (%v)", l, ts, err)
		}
		if text != "one" && text != "two" && text != "three" && text != "err" {
			t.Errorf("timestamped line %q: text %q", l, text)
		}
	}
}
