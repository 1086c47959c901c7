package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
	"github.com/hoist-dev/hoist/internal/procfs"
)

// Stop stops r through its supervisor, or from the files when no
// supervisor runs (or it does not know r): the stop signal (the
// service's, else the image's, else SIGTERM), then SIGKILL after timeout
// (negative: the container's stop grace). It returns once the exit is
// recorded; nothing restarts the container then.
func (s Supervisors) Stop(ctx context.Context, r *store.Record, timeout time.Duration) error {
	if c := s.Live(ctx, r.Project); c != nil {
		err := c.Stop(ctx, r.ID, timeout)
		if err == nil || !errors.Is(err, supervisor.ErrNotFound) {
			return err
		}
	}
	sig, err := stopSignal(r)
	if err != nil {
		return err
	}
	if timeout < 0 {
		timeout = 10 * time.Second
		if r.StopTimeout != nil {
			timeout = *r.StopTimeout
		}
	}
	return supervisor.StopUnsupervised(ctx, s.dir(r.Project), r.ID, s.Layout.StateDir(r.Project, r.ID), sig, timeout)
}

// Kill sends sig to r's init, through its supervisor (its restart policy
// applies to the exit) or from the files.
func (s Supervisors) Kill(ctx context.Context, r *store.Record, sig syscall.Signal) error {
	if c := s.Live(ctx, r.Project); c != nil {
		err := c.Kill(ctx, r.ID, sig)
		if err == nil {
			return nil
		}
		if !errors.Is(err, supervisor.ErrNotFound) {
			return fmt.Errorf("%w: %w", err, engine.ErrConflict)
		}
	}
	st, running := s.Layout.Running(r)
	if !running {
		return fmt.Errorf("it is not running: %w", engine.ErrConflict)
	}
	return signalInit(st, sig)
}

// stopSignal is the container's stop signal (SIGTERM by default).
func stopSignal(r *store.Record) (syscall.Signal, error) {
	if r.StopSignal == "" {
		return syscall.SIGTERM, nil
	}
	return ParseSignal(r.StopSignal)
}

// ParseSignal parses a signal's name ("SIGKILL" or "KILL", any case) or
// number.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// signalInit signals the container's init through a pidfd, after checking
// that the pid still belongs to it (its start time), so a reused pid is
// never signalled.
func signalInit(st runtime.State, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("open container init: %w", err)
	}
	defer unix.Close(fd)
	if start, err := procfs.StartTime(st.Pid); err != nil || start != st.StartTime {
		return nil // gone, and the pid is someone else's
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal container init: %w", err)
	}
	return nil
}

// WaitMonitorGone waits (boundedly) for the container's monitor (a hoist
// run that ran it attached) to exit: it records the exit just before it
// ends, and remove must leave no process behind.
func (s Supervisors) WaitMonitorGone(ctx context.Context, r *store.Record) error {
	st, started, err := s.Layout.Status(r)
	if err != nil || !started || st.MonitorPid <= 0 {
		return nil
	}
	fd, ok := ownPidfd(st.MonitorPid, 0, s.Layout.StateDir(r.Project, r.ID))
	if !ok {
		return nil // gone (or a zombie), or the pid is someone else's
	}
	defer unix.Close(fd)
	if !pollExit(ctx, fd, 10*time.Second) {
		return fmt.Errorf("the monitor (pid %d) has not exited", st.MonitorPid)
	}
	return nil
}

// stopLegacyProxy ends the port proxy process of an earlier version of
// hoist (one per attached container, its state dir on its command line):
// SIGTERM, then SIGKILL after 5 s; it returns once the process is gone.
func stopLegacyProxy(pid int, start uint64, dir string) error {
	fd, ok := ownPidfd(pid, start, dir)
	if !ok {
		return nil
	}
	defer unix.Close(fd)
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGKILL} {
		if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil
			}
			return err
		}
		if pollExit(context.Background(), fd, 5*time.Second) {
			return nil
		}
	}
	return errors.New("did not exit after SIGKILL")
}

// ownPidfd opens a pidfd for pid if it is still the process started at
// start (0: not checked) whose command line names mark.
func ownPidfd(pid int, start uint64, mark string) (int, bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, false
	}
	if s, err := procfs.StartTime(pid); start != 0 && (err != nil || s != start) {
		unix.Close(fd)
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), mark) {
		unix.Close(fd)
		return 0, false
	}
	return fd, true
}

// pollExit waits up to d (or until ctx ends) for the process of the
// pidfd fd to exit.
func pollExit(ctx context.Context, fd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if n > 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
			return true
		}
	}
	return false
}
