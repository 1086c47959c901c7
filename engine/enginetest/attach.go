package enginetest

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// watchedBuffer collects output and tells when it holds a string.
type watchedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *watchedBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		got := w.buf.String()
		w.mu.Unlock()
		if strings.Contains(got, s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("output %q never held %q", got, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testAttacher is hoist attach: input reaches a container that keeps its
// stdin open and its answers come out; a detach (the context ending)
// leaves it running with its input open; a second attach's input makes
// it exit, whose code Attach returns; a stopped container is a conflict.
func testAttacher(t *testing.T, h *harness) {
	at := h.b.(engine.Attacher)
	svc := h.service("reader", "sh", "-c", `while read line; do echo "got $line"; [ "$line" = quit ] && exit 7; done; echo eof`)
	svc.StdinOpen = true
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)

	ctx, cancel := context.WithCancel(h.ctx())
	inR, inW := io.Pipe()
	out := &watchedBuffer{}
	done := make(chan error, 1)
	go func() {
		_, err := at.Attach(ctx, id, engine.AttachStreams{Stdin: inR, Stdout: out, Stderr: out})
		done <- err
	}()
	// The attach may not be connected yet: say hello until answered.
	answered := make(chan struct{})
	go func() {
		for {
			select {
			case <-answered:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := io.WriteString(inW, "hello\n"); err != nil {
				return
			}
		}
	}()
	out.waitFor(t, "got hello")
	close(answered)
	cancel()
	inW.Close()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Attach after a detach = %v, want context.Canceled", err)
		}
	case <-time.After(timeout):
		t.Fatal("Attach did not return on a detach")
	}
	if c := h.find(id); c.State != engine.StateRunning {
		t.Fatalf("the container is %s after a detach, want running", c.State)
	}

	inR2, inW2 := io.Pipe()
	out2 := &watchedBuffer{}
	done2 := make(chan struct{})
	var code int
	var err error
	go func() {
		defer close(done2)
		code, err = at.Attach(h.ctx(), id, engine.AttachStreams{Stdin: inR2, Stdout: out2, Stderr: out2})
	}()
	go func() {
		for {
			select {
			case <-done2:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := io.WriteString(inW2, "quit\n"); err != nil {
				return
			}
		}
	}()
	select {
	case <-done2:
	case <-time.After(timeout):
		t.Fatal("Attach did not return when the container exited")
	}
	inW2.Close()
	if err != nil || code != 7 {
		t.Errorf("Attach = %d, %v, want the exit code 7", code, err)
	}
	if !strings.Contains(out2.buf.String(), "got quit") {
		t.Errorf("second attach's output %q, want the answer to quit", out2.buf.String())
	}
	if _, err := at.Attach(h.ctx(), id, engine.AttachStreams{Stdout: io.Discard, Stderr: io.Discard}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("Attach to an exited container = %v, want ErrConflict", err)
	}
}
