package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// oneOff is spec as hoist run makes it: a one-off container of the
// project, named as run names it.
func (h *harness) oneOff(spec engine.ContainerSpec) engine.ContainerSpec {
	spec.OneOff = true
	spec.Name = fmt.Sprintf("%s-%s-run-1", h.project, spec.Service)
	spec.Config.Labels = maps.Clone(spec.Config.Labels)
	spec.Config.Labels[engine.LabelOneOff] = "True"
	return spec
}

// containers lists the project's containers.
func (h *harness) containers() []engine.Container {
	h.t.Helper()
	st, err := h.b.Observe(h.ctx(), h.project, nil)
	if err != nil {
		h.t.Fatalf("Observe: %v", err)
	}
	return st.Containers
}

// testRunner is hoist run: RunContainer streams stdin in and both streams
// out, returns the exit code, removes the container with Remove and keeps
// it exited without; a cancelled run kills the container and removes it.
func testRunner(t *testing.T, h *harness) {
	r, ok := h.b.(engine.Runner)
	if !ok {
		t.Fatal("backend is not an engine.Runner")
	}
	t.Run("remove", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		spec := h.oneOff(h.spec(h.service("job", "sh", "-c", "tr a-z A-Z; echo err >&2; exit 3")))
		code, err := r.RunContainer(h.ctx(), spec, engine.RunAttach{Stdin: strings.NewReader("in\n"), Stdout: &stdout, Stderr: &stderr, Remove: true})
		if err != nil || code != 3 {
			t.Fatalf("RunContainer: code %d, %v; want 3", code, err)
		}
		if stdout.String() != "IN\n" || stderr.String() != "err\n" {
			t.Errorf("stdout %q stderr %q, want \"IN\\n\" and \"err\\n\"", stdout.String(), stderr.String())
		}
		if cs := h.containers(); len(cs) != 0 {
			t.Errorf("after a run with Remove: %+v left", cs)
		}
	})
	t.Run("keep", func(t *testing.T) {
		spec := h.oneOff(h.spec(h.service("kept", "sh", "-c", "exit 2")))
		code, err := r.RunContainer(h.ctx(), spec, engine.RunAttach{Stdout: io.Discard, Stderr: io.Discard})
		if err != nil || code != 2 {
			t.Fatalf("RunContainer: code %d, %v; want 2", code, err)
		}
		cs := h.containers()
		if len(cs) != 1 || cs[0].Name != spec.Name || cs[0].State != engine.StateExited || cs[0].ExitCode != 2 || !cs[0].OneOff {
			t.Fatalf("after a run without Remove: %+v, want %s exited with 2, one-off", cs, spec.Name)
		}
		if err := h.b.RemoveContainer(h.ctx(), cs[0].ID, engine.RemoveOptions{Volumes: true}); err != nil {
			t.Fatalf("RemoveContainer: %v", err)
		}
	})
	t.Run("terminal", func(t *testing.T) {
		var stdout bytes.Buffer
		spec := h.oneOff(h.spec(h.service("tty", "sh", "-c", "test -t 1 && echo a-tty; echo err >&2")))
		code, err := r.RunContainer(h.ctx(), spec, engine.RunAttach{Stdout: &stdout, Stderr: io.Discard, Remove: true, TTY: true, Size: engine.WinSize{Rows: 21, Cols: 77}})
		if err != nil || code != 0 {
			t.Fatalf("RunContainer: code %d, %v", code, err)
		}
		// A terminal's output is one stream, with its line endings. (Its
		// size is not checked: Engine API 1.41 sets it only once the
		// process runs.)
		if got := stdout.String(); got != "a-tty\r\nerr\r\n" {
			t.Errorf("terminal output %q, want a-tty and err on it", got)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(h.ctx())
		defer cancel()
		out := newStreamBuffer()
		spec := h.oneOff(h.spec(h.service("long", "sh", "-c", "echo started; exec sleep 600")))
		done := make(chan error, 1)
		go func() {
			_, err := r.RunContainer(ctx, spec, engine.RunAttach{Stdout: out, Stderr: io.Discard, Remove: true})
			done <- err
		}()
		out.waitFor(t, "started\n")
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("a cancelled run returned %v, want context.Canceled", err)
			}
		case <-time.After(timeout):
			t.Fatal("a cancelled run did not return")
		}
		if cs := h.containers(); len(cs) != 0 {
			t.Errorf("after a cancelled run with Remove: %+v left", cs)
		}
	})
}

// streamBuffer is an io.Writer whose content a test waits for.
type streamBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newStreamBuffer() *streamBuffer { return &streamBuffer{changed: make(chan struct{})} }

func (b *streamBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

func (b *streamBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the content holds s, up to the suite's timeout.
func (b *streamBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		got, changed := b.buf.String(), b.changed
		b.mu.Unlock()
		if strings.Contains(got, s) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited %v for %q; the stream has %q", timeout, s, got)
		}
	}
}
