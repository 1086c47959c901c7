package enginetest

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// testPauser is hoist pause and unpause: a paused container's counter
// stops advancing and it shows as paused; exec into it is refused; it
// counts again after unpause; stop works on a paused container; pausing
// what is not running and unpausing what is not paused are conflicts.
func testPauser(t *testing.T, h *harness) {
	p := h.b.(engine.Pauser)
	id := h.run(h.spec(h.service("counter", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.02; done")))
	h.wait(id, engine.WaitRunning)
	h.mustExec(id, "while ! test -s /count; do sleep 0.02; done")
	if err := p.Unpause(h.ctx(), id); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("Unpause of a running container = %v, want ErrConflict", err)
	}
	if err := p.Pause(h.ctx(), id); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if c := h.find(id); c.State != engine.StatePaused || !c.Active() {
		t.Errorf("state after Pause %q, want %q", c.State, engine.StatePaused)
	}
	if err := p.Pause(h.ctx(), id); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("Pause of a paused container = %v, want ErrConflict", err)
	}
	ex := h.b.(engine.Execer)
	if _, err := ex.Exec(h.ctx(), id, engine.ExecSpec{Cmd: []string{"true"}, Stdout: io.Discard, Stderr: io.Discard}); !errors.Is(err, engine.ErrConflict) || !strings.Contains(err.Error(), "paused") {
		t.Errorf("Exec into a paused container = %v, want an ErrConflict saying it is paused", err)
	}
	// The counter advances every 20 ms when running: over a window of
	// 25 of its steps it must not move at all.
	before := h.counter(id)
	time.Sleep(500 * time.Millisecond)
	if after := h.counter(id); after != before {
		t.Fatalf("the counter went from %d to %d while paused", before, after)
	}
	if err := p.Unpause(h.ctx(), id); err != nil {
		t.Fatalf("Unpause: %v", err)
	}
	if c := h.find(id); c.State != engine.StateRunning {
		t.Errorf("state after Unpause %q, want running", c.State)
	}
	deadline := time.Now().Add(timeout)
	for h.counter(id) == before {
		if time.Now().After(deadline) {
			t.Fatalf("the counter stayed at %d after Unpause", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.mustExec(id, "true")

	// Stopping a paused container stops it.
	if err := p.Pause(h.ctx(), id); err != nil {
		t.Fatalf("Pause again: %v", err)
	}
	if err := h.b.StopContainer(h.ctx(), id, time.Second); err != nil {
		t.Fatalf("StopContainer of a paused container: %v", err)
	}
	if c := h.wait(id, engine.WaitExited); c.State != engine.StateExited {
		t.Errorf("state after stopping a paused container %q, want exited", c.State)
	}
	if err := p.Pause(h.ctx(), id); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("Pause of an exited container = %v, want ErrConflict", err)
	}
}

// counter reads the number in the container's /count through the
// engine's copy ability, which works on a paused container too.
func (h *harness) counter(id string) int {
	h.t.Helper()
	cp := h.b.(engine.Copier)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rc, _, err := cp.CopyFrom(ctx, id, "/count")
	if err != nil {
		h.t.Fatalf("CopyFrom /count: %v", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		h.t.Fatalf("CopyFrom /count: %v", err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		h.t.Fatalf("CopyFrom /count: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		// A read between the shell's truncate and write: read again.
		return h.counter(id)
	}
	return n
}
