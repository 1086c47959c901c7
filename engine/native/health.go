package native

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// Healthchecks belong to the per-project supervisor (part 3). Until it
// exists, the process that waits for a container to be healthy probes it
// itself, with runtime.Exec, and records the outcome in health.json in the
// state dir, so Observe reports it. Nothing probes a container that nobody
// waits for: its health stays "starting", or the last recorded outcome
// for the current run.

const healthFile = "health.json"

// healthRecord is health.json.
type healthRecord struct {
	Status string `json:"status"`
	// StartedAt is the run it belongs to (runtime.State.StartedAt).
	StartedAt time.Time `json:"started_at"`
	Output    string    `json:"output,omitempty"`
	ExitCode  int       `json:"exit_code"`
	At        time.Time `json:"at"`
}

// Docker's healthcheck defaults.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	maxHealthOutput       = 4096
)

// health is the container's recorded health for its current run.
func (b *Backend) health(r *record, st runtime.State) string {
	var h healthRecord
	if err := readJSON(filepath.Join(b.stateDir(r.Project, r.ID), healthFile), &h); err != nil || !h.StartedAt.Equal(st.StartedAt) {
		return engine.HealthStarting
	}
	return h.Status
}

// waitHealthy waits for the container to run, then probes it until it is
// healthy (nil), unhealthy, or exits (errors naming the container).
func (b *Backend) waitHealthy(ctx context.Context, r *record) (engine.Container, error) {
	fail := func(c engine.Container, err error) (engine.Container, error) {
		return c, fmt.Errorf("wait for container %q to be healthy: %w", r.Name, err)
	}
	exitErr := func(st runtime.State, last string) error {
		msg := fmt.Sprintf("container %q exited with code %d while waiting for it to be healthy", r.Name, st.ExitCode)
		if last != "" {
			msg += ": last healthcheck: " + last
		}
		return errors.New(msg)
	}
	st, started, err := b.waitState(ctx, r, func(st runtime.State, started bool) (bool, error) {
		if started && st.Status == runtime.StatusExited {
			return false, exitErr(st, "")
		}
		return started, nil
	})
	if err != nil {
		return fail(b.container(r, st, started), err)
	}
	if h := b.health(r, st); h == engine.HealthHealthy {
		return b.container(r, st, true), nil
	}

	// A watcher reports the exit while probes run.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitc := make(chan runtime.State, 1)
	go func() {
		st, _, err := b.waitState(wctx, r, exited)
		if err == nil {
			exitc <- st
		}
	}()

	hc := r.Healthcheck
	interval := durOr(hc.Interval, defaultHealthInterval)
	startInterval := durOr(hc.StartInterval, interval)
	timeout := durOr(hc.Timeout, defaultHealthTimeout)
	startPeriod := durOr(hc.StartPeriod, 0)
	retries := defaultHealthRetries
	if hc.Retries != nil && *hc.Retries > 0 {
		retries = int(*hc.Retries)
	}
	args := probeArgs(hc.Test)
	if len(args) == 0 {
		return fail(b.container(r, st, true), fmt.Errorf("healthcheck test %q: unsupported form", hc.Test))
	}
	failures := 0
	last := ""
	for {
		wait := interval
		inStart := time.Since(st.StartedAt) < startPeriod
		if inStart {
			wait = startInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fail(b.container(r, st, true), ctx.Err())
		case est := <-exitc:
			t.Stop()
			return fail(b.container(r, est, true), exitErr(est, last))
		case <-t.C:
		}
		code, out := b.probe(ctx, r, st, args, timeout)
		last = out
		if last == "" {
			last = fmt.Sprintf("exit code %d", code)
		}
		h := healthRecord{StartedAt: st.StartedAt, Output: out, ExitCode: code, At: time.Now().UTC()}
		switch {
		case code == 0:
			h.Status = engine.HealthHealthy
		case inStart && time.Since(st.StartedAt) < startPeriod:
			continue // failures in the start period do not count
		default:
			failures++
			if failures < retries {
				continue
			}
			h.Status = engine.HealthUnhealthy
		}
		if err := writeJSON(filepath.Join(b.stateDir(r.Project, r.ID), healthFile), h); err != nil {
			return fail(b.container(r, st, true), err)
		}
		c := b.container(r, st, true)
		if h.Status == engine.HealthUnhealthy {
			return c, fmt.Errorf("container %q is unhealthy: %s", r.Name, last)
		}
		return c, nil
	}
}

func durOr(d *types.Duration, def time.Duration) time.Duration {
	if d == nil || *d <= 0 {
		return def
	}
	return time.Duration(*d)
}

// probeArgs turns a compose healthcheck test into a command.
func probeArgs(test []string) []string {
	if len(test) == 0 {
		return nil
	}
	switch test[0] {
	case "CMD":
		return test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(test[1:], " ")}
	}
	return []string{"/bin/sh", "-c", strings.Join(test, " ")}
}

// probe runs one healthcheck probe and returns its exit code (-1 on a
// timeout or failure to run) and its output, trimmed and bounded.
func (b *Backend) probe(ctx context.Context, r *record, st runtime.State, args []string, timeout time.Duration) (int, string) {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out lockedBuffer
	code, err := runtime.Exec(pctx, st.Pid, b.execSpec(r, engine.ExecSpec{Cmd: args, Stdout: &out, Stderr: &out}))
	text := strings.TrimSpace(out.String())
	if pctx.Err() == context.DeadlineExceeded {
		return -1, fmt.Sprintf("healthcheck timed out after %v", timeout)
	}
	if err != nil {
		return -1, strings.TrimSpace(text + " " + err.Error())
	}
	return code, text
}

// lockedBuffer collects probe output from the exec's copy goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := maxHealthOutput - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
