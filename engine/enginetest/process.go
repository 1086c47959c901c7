package enginetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// testKill is hoist kill: the signal reaches the container's process
// (its trap decides the exit code), SIGKILL ends it with 137; an exited
// container is a conflict, an unknown one not found.
func testKill(t *testing.T, h *harness) {
	k, ok := h.b.(engine.Killer)
	if !ok {
		t.Fatal("backend is not an engine.Killer")
	}
	id := h.run(h.spec(h.service("trap", "sh", "-c", "trap 'echo got-term; exit 42' TERM; touch /ready; while :; do sleep 1 & wait $!; done")))
	h.wait(id, engine.WaitRunning)
	h.mustExec(id, "while ! test -e /ready; do sleep 0.05; done")
	if err := k.Kill(h.ctx(), id, "SIGTERM"); err != nil {
		t.Fatalf("Kill SIGTERM: %v", err)
	}
	if c := h.wait(id, engine.WaitExited); c.ExitCode != 42 {
		t.Errorf("exit code after SIGTERM %d, want the trap's 42", c.ExitCode)
	}
	if err := k.Kill(h.ctx(), id, "SIGKILL"); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("Kill of an exited container = %v, want ErrConflict", err)
	}

	svc := h.service("sleeper", "sleep", "600")
	svc.Init = new(true)
	id = h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	if err := k.Kill(h.ctx(), id, "KILL"); err != nil {
		t.Fatalf("Kill KILL: %v", err)
	}
	if c := h.wait(id, engine.WaitExited); c.ExitCode != 137 {
		t.Errorf("exit code after SIGKILL %d, want 137", c.ExitCode)
	}
	if err := k.Kill(h.ctx(), h.project+"-nothing-1", "SIGKILL"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Kill of an unknown container = %v, want ErrNotFound", err)
	}
}

// testTop is hoist top: the container's processes, as ps -ef shows them;
// a stopped container has none to show.
func testTop(t *testing.T, h *harness) {
	tp, ok := h.b.(engine.Toper)
	if !ok {
		t.Fatal("backend is not an engine.Toper")
	}
	svc := h.service("box", "sh", "-c", "sleep 301 & touch /ready; exec sleep 302")
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	h.mustExec(id, "while ! test -e /ready; do sleep 0.05; done")
	titles, rows, err := tp.Top(h.ctx(), id)
	if err != nil {
		t.Fatalf("Top: %v", err)
	}
	if got := strings.Join(titles, " "); got != "UID PID PPID C STIME TTY TIME CMD" {
		t.Errorf("titles %q, want ps -ef's", got)
	}
	var cmds []string
	for _, r := range rows {
		if len(r) != len(titles) {
			t.Fatalf("row %q does not match the titles %q", r, titles)
		}
		cmds = append(cmds, r[len(r)-1])
		if r[0] != "root" {
			t.Errorf("row %q: user %q, want root", r, r[0])
		}
	}
	if got := strings.Join(cmds, "|"); !strings.Contains(got, "sleep 301") || !strings.Contains(got, "sleep 302") {
		t.Errorf("processes %q, want both sleeps", got)
	}
	if err := h.b.StopContainer(h.ctx(), id, 0); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if _, _, err := tp.Top(h.ctx(), id); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("Top of a stopped container = %v, want ErrConflict", err)
	}
}

// testStopWait is hoist wait's wait: the next exit, also one the restart
// policy answers with a restart, with its code; at once for a container
// that is not running.
func testStopWait(t *testing.T, h *harness) {
	sw, ok := h.b.(engine.StopWaiter)
	if !ok {
		t.Fatal("backend is not an engine.StopWaiter")
	}
	svc := h.service("sleeper", "sleep", "600")
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	type result struct {
		c   engine.Container
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := sw.WaitStop(h.ctx(), id)
		done <- result{c, err}
	}()
	if err := h.b.StopContainer(h.ctx(), id, 10*time.Second); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if r := <-done; r.err != nil || r.c.ID != id || r.c.ExitCode != 143 {
		t.Errorf("WaitStop of a stopped container: %+v, %v; want its exit code 143", r.c, r.err)
	}
	// Exited already: at once.
	if c, err := sw.WaitStop(h.ctx(), id); err != nil || c.State != engine.StateExited || c.ExitCode != 143 {
		t.Errorf("WaitStop of an exited container: %+v, %v", c, err)
	}

	// A crash loop: every exit is restarted, and each is a stop.
	loop := h.service("loop", "sh", "-c", "exit 5")
	loop.Restart = "always"
	id = h.run(h.spec(loop))
	for i := 0; i < 2; i++ {
		c, err := sw.WaitStop(h.ctx(), id)
		if err != nil || c.ExitCode != 5 {
			t.Errorf("WaitStop of a restarting container: %+v, %v; want its exit code 5", c, err)
		}
	}
	if _, err := sw.WaitStop(h.ctx(), h.project+"-nothing-1"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("WaitStop of an unknown container = %v, want ErrNotFound", err)
	}
}

// testProcessStopper is down's stop before a removal: the container is
// stopped, and its removal then releases the rest.
func testProcessStopper(t *testing.T, h *harness) {
	ps, ok := h.b.(engine.ProcessStopper)
	if !ok {
		t.Fatal("backend is not an engine.ProcessStopper")
	}
	svc := h.service("worker", "sleep", "600")
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	if err := ps.StopProcesses(h.ctx(), id, 10*time.Second); err != nil {
		t.Fatalf("StopProcesses: %v", err)
	}
	if c := h.find(id); c.State != engine.StateExited || c.ExitCode != 143 {
		t.Errorf("after StopProcesses: state %q exit code %d, want exited with 143", c.State, c.ExitCode)
	}
	if err := h.b.RemoveContainer(h.ctx(), id, engine.RemoveOptions{Volumes: true}); err != nil {
		t.Fatalf("RemoveContainer after StopProcesses: %v", err)
	}
	if err := ps.StopProcesses(h.ctx(), id, 0); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("StopProcesses of a removed container = %v, want ErrNotFound", err)
	}
}

// testProjectLocker is up's lock: one holder at a time, across handles;
// a waiter gives up when its context ends.
func testProjectLocker(t *testing.T, h *harness) {
	l, ok := h.b.(engine.ProjectLocker)
	if !ok {
		t.Fatal("backend is not an engine.ProjectLocker")
	}
	unlock, err := l.LockProject(h.ctx(), h.project)
	if err != nil {
		t.Fatalf("LockProject: %v", err)
	}
	short, cancel := context.WithTimeout(h.ctx(), 300*time.Millisecond)
	defer cancel()
	if again, err := l.LockProject(short, h.project); err == nil {
		again()
		unlock()
		t.Fatal("the project was locked twice at once")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a waiter whose context ended: %v, want context.DeadlineExceeded", err)
	}
	got := make(chan error, 1)
	go func() {
		again, err := l.LockProject(h.ctx(), h.project)
		if err == nil {
			again()
		}
		got <- err
	}()
	unlock()
	if err := <-got; err != nil {
		t.Errorf("LockProject after the unlock: %v", err)
	}
}

// testProjectTearer is down's last step: it keeps a project that still
// has a container, and leaves nothing of one that has none.
func testProjectTearer(t *testing.T, h *harness) {
	pt, ok := h.b.(engine.ProjectTearer)
	if !ok {
		t.Fatal("backend is not an engine.ProjectTearer")
	}
	svc := h.service("app", "sleep", "600")
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	if err := pt.TeardownProject(h.ctx(), h.project); err != nil {
		t.Fatalf("TeardownProject with a container: %v", err)
	}
	if c := h.find(id); c.State != engine.StateRunning {
		t.Errorf("after TeardownProject the container is %q, want running", c.State)
	}
	if err := h.b.RemoveContainer(h.ctx(), id, engine.RemoveOptions{Force: true, Volumes: true}); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	if err := pt.TeardownProject(h.ctx(), h.project); err != nil {
		t.Fatalf("TeardownProject: %v", err)
	}
	if cs := h.containers(); len(cs) != 0 {
		t.Errorf("after TeardownProject: %+v", cs)
	}
}
