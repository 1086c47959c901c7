package orchestrate

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// Containers lists the project's containers sorted by service and number;
// one-off containers only when oneOff is set.
func (o *Orchestrator) Containers(ctx context.Context, project string, services []string, oneOff bool) ([]engine.Container, error) {
	st, err := o.Backend.Observe(ctx, project, nil)
	if err != nil {
		return nil, fmt.Errorf("observe project %q: %w", project, err)
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []engine.Container
	for _, c := range st.Containers {
		if c.OneOff && !oneOff {
			continue
		}
		if len(want) > 0 && !want[c.Service] {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Number != out[j].Number {
			return out[i].Number < out[j].Number
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// LogLine is one line of a container's output.
type LogLine struct {
	Container engine.Container
	Stderr    bool
	Text      string
	// Exited marks the line that follows a container's last output when
	// it exits while followed (it was running when followed): Text is
	// empty, ExitCode its code.
	Exited   bool
	ExitCode int
}

// Logs streams the containers' output line by line to sink (calls are
// serialized). With Follow it re-attaches to a container that restarts, so
// no restart ends the stream, and returns when all have stopped for good or
// ctx ends; the exit of a container that was running is reported.
func (o *Orchestrator) Logs(ctx context.Context, cs []engine.Container, opts engine.LogOptions, sink func(LogLine)) error {
	return o.logs(ctx, cs, func(engine.Container) engine.LogOptions { return opts }, sink, false)
}

// Attach follows the output of the containers up just brought up, and
// reports every one's exit: one may have exited already, before the caller
// listed it. A container up created shows all its output; one it started
// again (or found running) shows what came since up began, not its
// earlier runs'. (since is this host's clock, the engine's may differ:
// only the containers that had output before rely on it.)
func (o *Orchestrator) Attach(ctx context.Context, cs []engine.Container, created map[string]bool, since time.Time, sink func(LogLine)) error {
	optsFor := func(c engine.Container) engine.LogOptions {
		opts := engine.LogOptions{Follow: true, Tail: "all"}
		if !created[c.Name] {
			opts.Since = since.UTC().Format(time.RFC3339Nano)
		}
		return opts
	}
	return o.logs(ctx, cs, optsFor, sink, true)
}

func (o *Orchestrator) logs(ctx context.Context, cs []engine.Container, optsFor func(engine.Container) engine.LogOptions, sink func(LogLine), started bool) error {
	var mu sync.Mutex
	emit := func(l LogLine) {
		mu.Lock()
		defer mu.Unlock()
		sink(l)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	for _, c := range cs {
		wg.Add(1)
		go func(c engine.Container) {
			defer wg.Done()
			errs <- o.follow(ctx, c, optsFor(c), emit, started || c.Active())
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// follow streams c's output; watched says whether its exit is news: one
// that stopped before the command began has none to report, as in docker
// compose.
func (o *Orchestrator) follow(ctx context.Context, c engine.Container, opts engine.LogOptions, emit func(LogLine), watched bool) error {
	for {
		out, errw := &lines{c: c, emit: emit}, &lines{c: c, stderr: true, emit: emit}
		err := o.Backend.Logs(ctx, c.ID, opts, out, errw)
		out.flush()
		errw.flush()
		// A restart comes after the exit that ended the stream: the next
		// run's output is all after this.
		ended := o.now()
		if err != nil || !opts.Follow || ctx.Err() != nil {
			return err
		}
		// The stream ended because the container stopped; a restart policy
		// may bring it back, so keep following while the engine restarts it.
		cur, ok, err := o.current(ctx, c)
		if err != nil || !ok {
			return err
		}
		if watched {
			code := cur.ExitCode
			if cur.State == engine.StateRunning {
				// The engine may not have recorded the exit yet (dockerd
				// closes log streams first), or it restarted already: ask
				// for the exit, briefly.
				wctx, cancel := context.WithTimeout(ctx, time.Second)
				if got, err := o.Backend.Wait(wctx, c.ID, engine.WaitExited); err == nil {
					cur, code = got, got.ExitCode
				}
				cancel()
			}
			// As docker compose, after its output.
			emit(LogLine{Container: c, Exited: true, ExitCode: code})
		}
		if cur.State != engine.StateRestarting && cur.State != engine.StateRunning {
			return nil
		}
		if _, err := o.Backend.Wait(ctx, c.ID, engine.WaitRunning); err != nil {
			return nil
		}
		watched = true
		opts.Tail = "all"
		opts.Since = ended.UTC().Format(time.RFC3339Nano)
	}
}

// current is c as the engine sees it now; ok is false when it is gone.
func (o *Orchestrator) current(ctx context.Context, c engine.Container) (engine.Container, bool, error) {
	st, err := o.Backend.Observe(ctx, c.Project, nil)
	if err != nil {
		return engine.Container{}, false, err
	}
	for _, cur := range st.Containers {
		if cur.ID == c.ID {
			return cur, true, nil
		}
	}
	return engine.Container{}, false, nil
}

// lines splits a byte stream into lines; flush emits a final partial line.
type lines struct {
	c      engine.Container
	stderr bool
	emit   func(LogLine)
	buf    []byte
}

func (l *lines) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(LogLine{Container: l.c, Stderr: l.stderr, Text: strings.TrimSuffix(string(l.buf[:i]), "\r")})
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

func (l *lines) flush() {
	if len(l.buf) > 0 {
		l.emit(LogLine{Container: l.c, Stderr: l.stderr, Text: string(l.buf)})
		l.buf = nil
	}
}
