package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/clock"
)

// Health statuses, as engine.Health*.
const (
	HealthStarting  = engine.HealthStarting
	HealthHealthy   = engine.HealthHealthy
	HealthUnhealthy = engine.HealthUnhealthy
)

// HealthFile is health.json in the state dir (store.Health), which the
// engine reads for wait and ps.
const HealthFile = store.HealthFile

// Docker's healthcheck defaults.
const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 30 * time.Second
	defaultHealthStartInterval = 5 * time.Second
	defaultHealthRetries       = 3
	maxHealthOutput            = 4096
	healthLogLen               = 5
)

// probeArgs turns a healthcheck test into a command; nil for NONE or an
// empty test.
func probeArgs(test []string) []string {
	if len(test) == 0 {
		return nil
	}
	switch test[0] {
	case "NONE":
		return nil
	case "CMD":
		if len(test) < 2 {
			return nil
		}
		return test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(test[1:], " ")}
	}
	return []string{"/bin/sh", "-c", strings.Join(test, " ")}
}

// health probes the current run of c until ctx ends, recording each
// outcome in health.json and each change of status as an event.
func (s *server) health(ctx context.Context, c *ctr, t task) {
	s.mu.Lock()
	cfg := c.rec.Config
	s.mu.Unlock()
	hc := cfg.Healthcheck
	if hc == nil {
		return
	}
	args := probeArgs(hc.Test)
	if args == nil {
		return
	}
	interval := durOr(hc.Interval, defaultHealthInterval)
	timeout := durOr(hc.Timeout, defaultHealthTimeout)
	startInterval := durOr(hc.StartInterval, defaultHealthStartInterval)
	retries := hc.Retries
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	runStart := s.clock.Now()
	rec := store.Health{Status: HealthStarting}
	if st, err := runtime.ReadState(cfg.StateDir); err == nil {
		rec.StartedAt = st.StartedAt
	}
	path := filepath.Join(cfg.StateDir, HealthFile)
	_ = store.WriteJSON(path, rec)
	spec := runtime.ExecSpec{
		Args: args, Env: cfg.Spec.Env, User: cfg.Spec.User, GroupAdd: cfg.Spec.GroupAdd,
		Security: cfg.Spec.Security, Ulimits: cfg.Spec.Ulimits,
	}
	for {
		inStart := s.clock.Now().Sub(runStart) < hc.StartPeriod
		wait := interval
		if inStart {
			wait = startInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-clock.After(s.clock, wait):
		}
		pr := s.probeOnce(ctx, t.Pid(), spec, timeout)
		if ctx.Err() != nil {
			return
		}
		status := rec.Status
		switch {
		case pr.ExitCode == 0:
			rec.FailingStreak = 0
			status = HealthHealthy
		case s.clock.Now().Sub(runStart) < hc.StartPeriod:
			// failures in the start period do not count
		default:
			rec.FailingStreak++
			if rec.FailingStreak >= retries {
				status = HealthUnhealthy
			}
		}
		rec.Output, rec.ExitCode, rec.At = pr.Output, pr.ExitCode, pr.End
		rec.Log = append(rec.Log, pr)
		if len(rec.Log) > healthLogLen {
			rec.Log = rec.Log[len(rec.Log)-healthLogLen:]
		}
		changed := status != rec.Status
		rec.Status = status
		if err := store.WriteJSON(path, rec); err != nil {
			s.logf("supervisor: %v", err)
		}
		if changed {
			s.mu.Lock()
			if c.cur == t {
				c.st.Health = status
			}
			s.emitLocked(Event{Type: EventHealth, ID: cfg.ID, Health: status, Pid: t.Pid()})
			s.mu.Unlock()
		}
	}
}

// probeOnce runs one probe; -1 means it timed out or could not run.
func (s *server) probeOnce(ctx context.Context, pid int, spec runtime.ExecSpec, timeout time.Duration) store.Probe {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out boundedBuffer
	spec.Stdout, spec.Stderr = &out, &out
	pr := store.Probe{Start: time.Now().UTC()}
	code, err := s.probe(pctx, pid, spec)
	pr.End = time.Now().UTC()
	pr.ExitCode, pr.Output = code, strings.TrimSpace(out.String())
	switch {
	case pctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		pr.ExitCode, pr.Output = -1, fmt.Sprintf("healthcheck timed out after %v", timeout)
	case err != nil:
		pr.ExitCode, pr.Output = -1, strings.TrimSpace(pr.Output+" "+err.Error())
	}
	return pr
}

func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// boundedBuffer keeps the first maxHealthOutput bytes of probe output.
type boundedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxHealthOutput - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
