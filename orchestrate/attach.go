package orchestrate

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/plan"
)

// AttachOptions are an attached up's: whose output is shown and how the
// run ends.
type AttachOptions struct {
	// Containers are the project's containers up brought up: each counts
	// for the end of the run and its exit code. Shown are those whose
	// output goes to the sink.
	Containers []engine.Container
	Shown      []engine.Container
	// Since is when up began (see Attach).
	Since time.Time
	// AbortOnExit stops the project as soon as one container exits.
	AbortOnExit bool
	// ExitCodeFrom names the service whose exit code is the result.
	ExitCodeFrom string
	// KillCtx, once done, turns the project's graceful stop into a kill
	// (see Stop).
	KillCtx context.Context
	// Stopping, when set, is called once, before the project is stopped
	// (an abort or ctx's end).
	Stopping func()
}

// AttachUp follows what up (res) brought up, as docker compose's attached
// up does: it streams the shown containers' output to sink (calls are
// serialized) until every container has stopped. When ctx ends, or with
// AbortOnExit when one container exits, it stops the project's
// containers; the exiting one's output is shown to its end and its exit
// line, the others' output no longer. It returns the exit code:
// ExitCodeFrom's, or with AbortOnExit the first non-zero one seen, else 0.
// The containers' exits come from the engine's Wait (its events).
func (o *Orchestrator) AttachUp(ctx context.Context, res *UpResult, opts AttachOptions, sink func(LogLine)) (int, error) {
	created := map[string]bool{}
	for _, op := range res.Plan.Ops() {
		if op.Kind == plan.Create {
			created[op.Target] = true
		}
	}
	out := &attachSink{sink: sink, exits: map[string]chan struct{}{}}
	logCtx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	logsDone := make(chan error, 1)
	go func() {
		logsDone <- o.Attach(logCtx, opts.Shown, created, opts.Since, out.print)
	}()
	cs := opts.Containers
	exited := make(chan engine.Container, len(cs))
	for _, c := range cs {
		go func(c engine.Container) {
			got, err := o.Backend.Wait(logCtx, c.ID, engine.WaitExited)
			if err == nil {
				exited <- got
			}
		}(c)
	}
	code := 0
	remaining := len(cs)
	abort := false
	var aborter *engine.Container
	for remaining > 0 && !abort {
		select {
		case <-ctx.Done():
			abort = true
		case c := <-exited:
			remaining--
			if opts.AbortOnExit {
				abort, aborter = true, &c
			}
			if opts.ExitCodeFrom == c.Service || (opts.ExitCodeFrom == "" && c.ExitCode != 0 && opts.AbortOnExit) {
				code = c.ExitCode
			}
		}
	}
	if !abort {
		<-logsDone
		return code, nil
	}
	if aborter != nil {
		// Its last lines may still be on their way: wait, briefly, for
		// its exit line, which follows them.
		if slices.ContainsFunc(opts.Shown, func(c engine.Container) bool { return c.ID == aborter.ID }) {
			out.waitExit(aborter.ID, 500*time.Millisecond)
		}
		out.mute()
	}
	if opts.Stopping != nil {
		opts.Stopping()
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := o.Stop(stopCtx, res.Project.Name, nil, nil, nil, opts.KillCtx); err != nil {
		return 0, err
	}
	stopLogs()
	<-logsDone
	if aborter != nil {
		// Its log stream may have been stopped before it saw the exit.
		out.printExit(*aborter)
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if opts.ExitCodeFrom != "" {
		for _, c := range cs {
			if c.Service == opts.ExitCodeFrom {
				if got, err := o.Backend.Wait(stopCtx, c.ID, engine.WaitExited); err == nil {
					code = got.ExitCode
				}
			}
		}
	}
	return code, nil
}

// attachSink passes log lines on until muted, and tells when a
// container's exit line went by.
type attachSink struct {
	mu    sync.Mutex
	sink  func(LogLine)
	muted bool
	// exits holds a channel per container, closed once its exit line
	// was passed on.
	exits map[string]chan struct{}
}

func (s *attachSink) exit(id string) chan struct{} {
	ch, ok := s.exits[id]
	if !ok {
		ch = make(chan struct{})
		s.exits[id] = ch
	}
	return ch
}

func (s *attachSink) print(l LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.muted {
		return
	}
	s.sink(l)
	if l.Exited {
		if ch := s.exit(l.Container.ID); !closed(ch) {
			close(ch)
		}
	}
}

// mute drops what comes from now on, as docker compose's printer does
// once a container's exit aborts up: the others' output is not news.
func (s *attachSink) mute() {
	s.mu.Lock()
	s.muted = true
	s.mu.Unlock()
}

// waitExit waits, at most d, for id's exit line to be passed on.
func (s *attachSink) waitExit(id string, d time.Duration) {
	s.mu.Lock()
	ch := s.exit(id)
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// printExit passes c's exit line on, muted or not, unless it went by.
func (s *attachSink) printExit(c engine.Container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch := s.exit(c.ID); !closed(ch) {
		s.sink(LogLine{Container: c, Exited: true, ExitCode: c.ExitCode})
		close(ch)
	}
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
