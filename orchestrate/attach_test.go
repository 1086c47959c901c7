package orchestrate

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/plan"
)

// liveFake is the fake engine with containers that run until they exit:
// Wait for their exit and a followed Logs block until exit(id) or a stop.
type liveFake struct {
	*fakeBackend
	mu     sync.Mutex
	exited map[string]chan struct{}
}

func newLiveFake() *liveFake {
	return &liveFake{fakeBackend: newFake(), exited: map[string]chan struct{}{}}
}

// run adds a running container of project p.
func (f *liveFake) run(id, service string, exitCode int) engine.Container {
	c := &engine.Container{ID: id, Name: "p-" + service + "-1", Project: "p", Service: service, Number: 1, State: engine.StateRunning, ExitCode: exitCode}
	f.fakeBackend.mu.Lock()
	f.containers[id] = c
	f.fakeBackend.mu.Unlock()
	f.mu.Lock()
	f.exited[id] = make(chan struct{})
	f.mu.Unlock()
	return *c
}

// exit makes container id exit with its code.
func (f *liveFake) exit(id string) {
	f.fakeBackend.mu.Lock()
	f.containers[id].State = engine.StateExited
	f.fakeBackend.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch := f.exited[id]; !closed(ch) {
		close(ch)
	}
}

func (f *liveFake) done(id string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exited[id]
}

func (f *liveFake) Wait(ctx context.Context, id string, cond engine.WaitCondition) (engine.Container, error) {
	if ch := f.done(id); ch != nil && cond == engine.WaitExited {
		select {
		case <-ch:
		case <-ctx.Done():
			return engine.Container{}, ctx.Err()
		}
	}
	return f.fakeBackend.Wait(ctx, id, cond)
}

func (f *liveFake) Logs(ctx context.Context, id string, o engine.LogOptions, stdout, stderr io.Writer) error {
	if err := f.fakeBackend.Logs(ctx, id, o, stdout, stderr); err != nil {
		return err
	}
	if ch := f.done(id); ch != nil && o.Follow {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	return nil
}

func (f *liveFake) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	if err := f.fakeBackend.StopContainer(ctx, id, timeout); err != nil {
		return err
	}
	f.exit(id)
	return nil
}

// attachUp runs AttachUp on f's containers p-job-1 and p-web-1 (both
// shown) and returns what the sink got, as text, and the stops told.
func attachUp(t *testing.T, ctx context.Context, f *liveFake, opts AttachOptions) (int, error, []string, int) {
	t.Helper()
	o := &Orchestrator{Backend: f}
	p := &types.Project{Name: "p", Services: types.Services{"job": {Name: "job"}, "web": {Name: "web"}}}
	res := &UpResult{Project: p, Plan: &plan.Plan{}}
	st, err := f.Observe(ctx, "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Containers {
		c.State = engine.StateRunning // as up listed them
		opts.Containers = append(opts.Containers, c)
	}
	opts.Shown = opts.Containers
	stops := 0
	opts.Stopping = func() { stops++ }
	var lines []string
	code, err := o.AttachUp(ctx, res, opts, func(l LogLine) {
		if l.Exited {
			lines = append(lines, fmt.Sprintf("%s exited %d", l.Container.Name, l.ExitCode))
		} else {
			lines = append(lines, l.Text)
		}
	})
	return code, err, lines, stops
}

// Without an abort, up attached ends when every container has exited,
// with code 0, each exit shown after its output, nothing stopped.
func TestAttachUpUntilAllExit(t *testing.T) {
	f := newLiveFake()
	f.run("1", "job", 3)
	f.run("2", "web", 0)
	go func() { f.exit("1"); f.exit("2") }()
	code, err, lines, stops := attachUp(t, context.Background(), f, AttachOptions{})
	if err != nil || code != 0 || stops != 0 {
		t.Fatalf("code %d err %v stops %d", code, err, stops)
	}
	for _, want := range [][2]string{{"output of p-job-1", "p-job-1 exited 3"}, {"output of p-web-1", "p-web-1 exited 0"}} {
		i, j := slices.Index(lines, want[0]), slices.Index(lines, want[1])
		if i < 0 || j < i {
			t.Errorf("lines %q: want %q then %q", lines, want[0], want[1])
		}
	}
	if strings.Contains(f.callLog(), "stop ") {
		t.Errorf("something was stopped:\n%s", f.callLog())
	}
}

// With AbortOnExit the first exit stops the project: that container's
// exit is shown once, after its output, the others' exits no more; the
// code is the first non-zero one, or ExitCodeFrom's service's.
func TestAttachUpAbortOnExit(t *testing.T) {
	for _, tc := range []struct {
		from string
		want int
	}{{"", 3}, {"web", 143}} {
		f := newLiveFake()
		f.run("1", "job", 3)
		f.run("2", "web", 143)
		f.exit("1")
		code, err, lines, stops := attachUp(t, context.Background(), f, AttachOptions{AbortOnExit: true, ExitCodeFrom: tc.from})
		if err != nil || code != tc.want || stops != 1 {
			t.Errorf("exit code from %q: code %d err %v stops %d, want code %d and one stop", tc.from, code, err, stops, tc.want)
		}
		if n := slices.Index(lines, "p-job-1 exited 3"); n < 0 || slices.Index(lines, "output of p-job-1") > n || slices.Index(lines[n+1:], "p-job-1 exited 3") >= 0 {
			t.Errorf("lines %q: want p-job-1's exit once, after its output", lines)
		}
		if slices.Contains(lines, "p-web-1 exited 143") {
			t.Errorf("lines %q: the stopped container's exit is shown", lines)
		}
		if !strings.Contains(f.callLog(), "stop p-web-1") {
			t.Errorf("p-web-1 was not stopped:\n%s", f.callLog())
		}
	}
}

// An interrupt stops the project and returns the context's error.
func TestAttachUpInterrupted(t *testing.T) {
	f := newLiveFake()
	f.run("1", "job", 0)
	f.run("2", "web", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err, _, stops := attachUp(t, ctx, f, AttachOptions{})
	if err != context.Canceled || stops != 1 {
		t.Errorf("err %v stops %d, want context.Canceled and one stop", err, stops)
	}
	if log := f.callLog(); !strings.Contains(log, "stop p-job-1") || !strings.Contains(log, "stop p-web-1") {
		t.Errorf("not all stopped:\n%s", log)
	}
}

// stopFake is a liveFake whose engine tells stops from its events.
type stopFake struct {
	*liveFake
	waits int
}

// WaitStop sees container 1 exit as soon as it is asked.
func (f *stopFake) WaitStop(ctx context.Context, id string) (engine.Container, error) {
	f.mu.Lock()
	f.waits++
	f.mu.Unlock()
	if id == "1" {
		f.exit(id)
	}
	return f.liveFake.Wait(ctx, id, engine.WaitExited)
}

// wait returns the first stop's exit code, from the engine's stop events
// where it has them, else from its Wait and a poll that sees a restart.
func TestWaitStopped(t *testing.T) {
	f := &stopFake{liveFake: newLiveFake()}
	f.run("1", "job", 4)
	f.run("2", "web", 0)
	o := &Orchestrator{Backend: f}
	code, err := o.WaitStopped(context.Background(), "p", nil, false)
	f.mu.Lock()
	waits := f.waits
	f.mu.Unlock()
	if err != nil || code != 4 || waits == 0 {
		t.Errorf("code %d err %v, %d stop waits: want 4, from the engine's stop waits", code, err, waits)
	}

	// An engine without stop events: a container the restart policy
	// restarts counts as stopped.
	lf := newLiveFake()
	lf.run("1", "job", 0)
	lf.run("2", "web", 7)
	lf.fakeBackend.mu.Lock()
	lf.containers["2"].State = engine.StateRestarting
	lf.fakeBackend.mu.Unlock()
	o = &Orchestrator{Backend: lf}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err = o.WaitStopped(ctx, "p", nil, false)
	if err != nil || code != 7 {
		t.Errorf("restarting: code %d err %v, want 7", code, err)
	}
	if _, err := o.WaitStopped(ctx, "none", nil, true); err == nil || !strings.Contains(err.Error(), "no running container") {
		t.Errorf("nothing to wait for: %v", err)
	}
}
