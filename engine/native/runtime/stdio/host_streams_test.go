package stdio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// run starts sh -c script with s as its fds 0 to 2, as the runtime starts
// a container's process, and waits for it and its output.
func run(t *testing.T, s *Streams, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.Child()
	if err := cmd.Start(); err != nil {
		s.Abort()
		t.Fatal(err)
	}
	s.CloseChildEnds()
	s.Start()
	err := cmd.Wait()
	s.Finish()
	if err != nil {
		t.Fatal(err)
	}
}

// Stdin is copied in; one writer for stdout and stderr gets one pipe on
// both, so what the process writes keeps its order.
func TestPipesKeepOrder(t *testing.T) {
	var out bytes.Buffer
	s, err := New(strings.NewReader("in\n"), &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, "cat; echo err >&2; echo out; echo err2 >&2")
	if got, want := out.String(), "in\nerr\nout\nerr2\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// A Handover file is the process's own fd, not a pipe; any other file is
// behind a pipe.
func TestHandoverIsTheFile(t *testing.T) {
	dir := t.TempDir()
	given, err := os.Create(filepath.Join(dir, "given"))
	if err != nil {
		t.Fatal(err)
	}
	defer given.Close()
	var errOut bytes.Buffer
	s, err := New(nil, Handover{File: given}, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, "readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&2; cat /proc/self/fd/0")
	b, err := os.ReadFile(given.Name())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != given.Name() {
		t.Errorf("fd 1 is %q, want the handed-over %s", got, given.Name())
	}
	if got := errOut.String(); !strings.HasPrefix(got, "pipe:") {
		t.Errorf("fd 2 is %q, want a pipe", got)
	}
}
