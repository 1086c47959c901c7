//go:build !hoistinit

package runtime

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/engine/native/runtime/state"
)

// Monitor owns one container for its parent: it starts it with the
// Spec's streams, records its state in StateDir and, when it exits,
// records the exit code and removes its cgroup. It holds no process-wide
// state, so one process (a per-project supervisor, or hoist run itself)
// can run many Monitors.
type Monitor struct {
	StateDir string
	// Spawned is an init spawned ahead (Spawn) that Start configures
	// instead of spawning one; its streams are the Spec's.
	Spawned *Spawned

	proc  *Process
	state State
}

// Start starts spec and records it as running.
func (m *Monitor) Start(ctx context.Context, spec Spec) (int, error) {
	sp := m.Spawned
	m.Spawned = nil
	if err := os.MkdirAll(m.StateDir, 0o700); err != nil {
		sp.Abort()
		return 0, fmt.Errorf("create state dir: %w", err)
	}
	var p *Process
	var err error
	if sp != nil {
		p, err = sp.Start(ctx, spec)
	} else {
		p, err = Start(ctx, spec)
	}
	if err != nil {
		return 0, err
	}
	m.proc = p
	start, err := state.StartTime(p.Pid())
	if err != nil {
		return 0, m.abort(fmt.Errorf("read container start time: %w", err))
	}
	m.state = State{Status: StatusRunning, Pid: p.Pid(), StartTime: start, MonitorPid: os.Getpid(), StartedAt: time.Now().UTC()}
	if err := state.Write(m.StateDir, m.state); err != nil {
		return 0, m.abort(err)
	}
	return p.Pid(), nil
}

func (m *Monitor) abort(err error) error {
	_ = m.proc.Signal(syscall.SIGKILL)
	_, _ = m.proc.Wait()
	_ = m.proc.Cleanup()
	return err
}

// Process is the running container, for signals.
func (m *Monitor) Process() *Process { return m.proc }

// Wait waits for the container to exit, records the exit code, removes
// the cgroup and returns the exit code.
func (m *Monitor) Wait() (int, error) {
	code, werr := m.proc.Wait()
	cerr := m.proc.Cleanup()
	m.state.Status, m.state.ExitCode, m.state.FinishedAt = StatusExited, code, time.Now().UTC()
	if werr != nil {
		m.state.Error = werr.Error()
	} else if cerr != nil {
		m.state.Error = cerr.Error()
	}
	if err := state.Write(m.StateDir, m.state); err != nil {
		return code, err
	}
	return code, werr
}
