//go:build !hoistinit

package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Monitor owns one container: it starts it with its output going to log
// files in StateDir, records its state there and, when it exits, records
// the exit code and removes its cgroup. It holds no process-wide state,
// so one process (a per-project supervisor) can run many Monitors.
type Monitor struct {
	StateDir string
	// Attach keeps the Spec's own Stdin, Stdout and Stderr instead of the
	// log files: the caller is the container's parent and monitor (an
	// attached one-off run), and no log is written.
	Attach bool
	// Spawned, with Attach, is an init spawned ahead (Spawn) that Start
	// configures instead of spawning one; its streams are the Spec's.
	Spawned *Spawned

	proc  *Process
	state State
	logs  []*os.File
}

// Log files a Monitor writes in its state directory.
const (
	StdoutLog = "stdout.log"
	StderrLog = "stderr.log"
)

// Start starts spec with stdout and stderr appended to the log files
// (unless Attach) and records it as running.
func (m *Monitor) Start(ctx context.Context, spec Spec) (int, error) {
	sp := m.Spawned
	m.Spawned = nil
	if !m.Attach {
		sp.Abort() // its streams are not the log files
		sp = nil
	}
	if err := os.MkdirAll(m.StateDir, 0o700); err != nil {
		sp.Abort()
		return 0, fmt.Errorf("create state dir: %w", err)
	}
	if !m.Attach {
		for _, name := range []string{StdoutLog, StderrLog} {
			f, err := os.OpenFile(filepath.Join(m.StateDir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
			if err != nil {
				m.closeLogs()
				return 0, fmt.Errorf("open log: %w", err)
			}
			m.logs = append(m.logs, f)
		}
		// The container's own log files, given as they are.
		spec.Stdin, spec.Stdout, spec.Stderr = nil, Handover{m.logs[0]}, Handover{m.logs[1]}
	}
	var p *Process
	var err error
	if sp != nil {
		p, err = sp.Start(ctx, spec)
	} else {
		p, err = Start(ctx, spec)
	}
	if err != nil {
		m.closeLogs()
		return 0, err
	}
	m.proc = p
	start, err := procStartTime(p.Pid())
	if err != nil {
		return 0, m.abort(fmt.Errorf("read container start time: %w", err))
	}
	m.state = State{Status: StatusRunning, Pid: p.Pid(), StartTime: start, MonitorPid: os.Getpid(), StartedAt: time.Now().UTC()}
	if err := writeState(m.StateDir, m.state); err != nil {
		return 0, m.abort(err)
	}
	return p.Pid(), nil
}

func (m *Monitor) abort(err error) error {
	_ = m.proc.Signal(syscall.SIGKILL)
	_, _ = m.proc.Wait()
	_ = m.proc.Cleanup()
	m.closeLogs()
	return err
}

func (m *Monitor) closeLogs() {
	for _, f := range m.logs {
		f.Close()
	}
	m.logs = nil
}

// Process is the running container, for signals.
func (m *Monitor) Process() *Process { return m.proc }

// Wait waits for the container to exit, records the exit code, removes
// the cgroup and returns the exit code.
func (m *Monitor) Wait() (int, error) {
	code, werr := m.proc.Wait()
	cerr := m.proc.Cleanup()
	m.closeLogs()
	m.state.Status, m.state.ExitCode, m.state.FinishedAt = StatusExited, code, time.Now().UTC()
	if werr != nil {
		m.state.Error = werr.Error()
	} else if cerr != nil {
		m.state.Error = cerr.Error()
	}
	if err := writeState(m.StateDir, m.state); err != nil {
		return code, err
	}
	return code, werr
}

const specFile = "spec.json"

// StartDetached starts spec under a monitor that outlives the caller: a
// re-executed hoist in its own session, acting as child subreaper, that
// follows one Monitor to the end and exits. It returns the container
// init's pid once the command runs. While the caller lives, a goroutine
// reaps the monitor when it ends; afterwards the system's init does.
// spec.Prestart and the io fields are not carried over.
func StartDetached(ctx context.Context, spec Spec, stateDir string) (int, error) {
	if err := spec.validate(); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return 0, fmt.Errorf("create state dir: %w", err)
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return 0, err
	}
	if err := writeFileAtomic(filepath.Join(abs, specFile), b); err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer errR.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{roleMonitor, abs},
		Env:         []string{},
		ExtraFiles:  []*os.File{nil, errW},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	errW.Close()
	if err != nil {
		return 0, fmt.Errorf("start monitor: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	if err := waitSetup(ctx, errR); err != nil {
		_ = cmd.Process.Kill()
		return 0, err
	}
	st, err := readStateFile(abs)
	if err != nil {
		return 0, err
	}
	return st.Pid, nil
}

// runMonitor is the detached monitor process.
func runMonitor() int {
	if len(os.Args) < 2 {
		reportError(fmt.Errorf("monitor: no state directory"))
		return 2
	}
	dir := os.Args[1]
	// Orphans of the container (none normally: its pid namespace dies with
	// its init) are reparented here rather than to the system's init.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	var spec Spec
	b, err := os.ReadFile(filepath.Join(dir, specFile))
	if err == nil {
		err = json.Unmarshal(b, &spec)
	}
	if err != nil {
		reportError(fmt.Errorf("monitor: read spec: %w", err))
		return 2
	}
	m := &Monitor{StateDir: dir}
	if _, err := m.Start(context.Background(), spec); err != nil {
		reportError(err)
		return 1
	}
	// Success: closing the error pipe tells StartDetached so.
	_ = unix.Close(fdError)
	if _, err := m.Wait(); err != nil {
		return 1
	}
	return 0
}
