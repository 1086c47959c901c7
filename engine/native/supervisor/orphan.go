package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// ErrNotRunning: no supervisor runs for the dir.
var ErrNotRunning = errors.New("supervisor is not running")

// Running reports the pid of the supervisor recorded in dir if it is
// still alive (its start time checked), from the files alone.
func Running(dir string) (int, bool) {
	var info Info
	if store.ReadJSON(filepath.Join(dir, InfoFile), &info) != nil || !alive(info.Pid, info.StartTime) {
		return 0, false
	}
	return info.Pid, true
}

// Connect returns a client of the supervisor in dir if one runs and
// answers, without starting one (an error wrapping ErrNotRunning).
func Connect(ctx context.Context, dir string) (*Client, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, ok := Running(dir); !ok {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotRunning)
	}
	c := &Client{dir: dir}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pid, err := c.ping(pctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", dir, ErrNotRunning, err)
	}
	c.Pid = pid
	return c, nil
}

// StopUnsupervised stops container id of the project whose supervisor
// dir is dir while no supervisor runs: it sends sig to the container's
// init (from its state dir, start time checked), kills it after grace,
// removes what is left in its cgroups, records the exit in state.json
// when nobody did, and forgets the container's record, so that a later
// supervisor does not restart it. A container that is not running only
// has its record forgotten.
func StopUnsupervised(ctx context.Context, dir, id, stateDir string, sig syscall.Signal, grace time.Duration) error {
	recPath := filepath.Join(dir, containersDir, id+".json")
	var rec record
	if err := store.ReadJSON(recPath, &rec); err == nil && rec.Config.StateDir != "" {
		stateDir = rec.Config.StateDir
	}
	var errs []error
	st, err := runtime.ReadState(stateDir)
	if err == nil && st.Status == runtime.StatusRunning {
		code := 128 + int(sig)
		if fd, err := pidfdOf(st.Pid, st.StartTime); err == nil {
			if grace > 0 && sig != syscall.SIGKILL {
				_ = unix.PidfdSendSignal(int(fd.Fd()), sig, nil, 0)
				if !waitPidfdFor(ctx, fd, grace) {
					code = 137
				}
			} else {
				code = 137
			}
			if code == 137 {
				_ = unix.PidfdSendSignal(int(fd.Fd()), unix.SIGKILL, nil, 0)
				waitPidfdFor(ctx, fd, 10*time.Second)
			}
			fd.Close()
		}
		if cur, err := runtime.ReadState(stateDir); err == nil && cur.Status == runtime.StatusRunning {
			cur.Status, cur.ExitCode, cur.FinishedAt = runtime.StatusExited, code, time.Now().UTC()
			cur.Error = "stopped while no supervisor ran"
			if err := store.WriteJSON(filepath.Join(stateDir, store.StateFile), cur); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := runtime.RemoveCgroups(id); err != nil {
		errs = append(errs, fmt.Errorf("container %s: %w", id, err))
	}
	if err := os.Remove(recPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// waitPidfdFor waits up to d for the process of fd to exit.
func waitPidfdFor(ctx context.Context, fd *os.File, d time.Duration) bool {
	done := make(chan struct{})
	go func() { _ = waitPidfd(fd); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
