//go:build !hoistinit

package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// waitDelay bounds how long Wait waits for the copying of a non-file
// Stdin after the process exited.
const waitDelay = 200 * time.Millisecond

// Process is a running container: its init process and its cgroup.
type Process struct {
	cmd *exec.Cmd
	cg  *cgroup
	// Console is the master of the container's terminal (Spec.TTY), nil
	// otherwise; non-blocking, so reads honour deadlines. The caller
	// copies to and from it and closes it.
	Console *os.File

	waitOnce sync.Once
	code     int
	waitErr  error
}

// Pid is the container init's pid in hoist's pid namespace.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the container's init. Note that, as pid 1, a command
// without a handler for SIGTERM ignores it (use Spec.Init or SIGKILL).
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal container: %w", err)
	}
	return nil
}

// Wait waits for the container's init to exit and returns its exit code,
// 128+n when killed by signal n. It may be called more than once.
func (p *Process) Wait() (int, error) {
	p.waitOnce.Do(func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) && !errors.Is(err, exec.ErrWaitDelay) {
			p.code, p.waitErr = -1, fmt.Errorf("wait for container: %w", err)
			return
		}
		p.code = exitCode(p.cmd.ProcessState)
	})
	return p.code, p.waitErr
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// Cleanup removes the container's cgroups, killing anything still in them.
// The namespaces vanish with their last process; there is nothing else to
// remove, because every mount lives in the container's mount namespace.
func (p *Process) Cleanup() error {
	if p.cg == nil {
		return nil
	}
	return p.cg.destroy()
}

// Start starts a container and returns once its command is executing (or
// its Init is running the command). ctx bounds the start only.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	prog, err := seccompFor(spec.Security)
	if err != nil {
		return nil, err
	}
	cg, err := newCgroup(spec.ID)
	if err != nil {
		return nil, err
	}
	self, err := initExecutableFor(spec.Security)
	if err != nil {
		return nil, err
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return nil, err
	}
	defer errR.Close()

	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if spec.Network.Mode == NetworkNew {
		flags |= unix.CLONE_NEWNET
	}
	cmd := &exec.Cmd{
		Path:        fmt.Sprintf("/proc/self/fd/%d", fdSelf),
		Args:        []string{roleInit},
		Env:         []string{},
		Stdin:       spec.Stdin,
		Stdout:      spec.Stdout,
		Stderr:      spec.Stderr,
		ExtraFiles:  []*os.File{cfgR, errW, self},
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: flags},
		// A Stdin that is not a file is copied by a goroutine that may
		// block in a read (a terminal nobody types on) after the
		// container is gone: Wait does not wait for it.
		WaitDelay: waitDelay,
	}
	var console *os.File // our end of the console socket
	if spec.TTY {
		var child *os.File
		if console, child, err = consoleSocket(); err != nil {
			cfgR.Close()
			errW.Close()
			return nil, err
		}
		defer console.Close()
		defer child.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
		cmd.ExtraFiles = append(cmd.ExtraFiles, child) // fdInitConsole
	}
	err = cmd.Start()
	cfgR.Close()
	errW.Close()
	if err != nil {
		return nil, fmt.Errorf("start container init: %w", err)
	}
	p := &Process{cmd: cmd, cg: cg}
	fail := func(err error) (*Process, error) {
		_ = cmd.Process.Kill()
		_, _ = p.Wait()
		return nil, errors.Join(err, p.Cleanup())
	}
	if err := cg.create(spec.Resources); err != nil {
		return fail(err)
	}
	if err := cg.add(cmd.Process.Pid); err != nil {
		return fail(err)
	}
	if spec.Prestart != nil {
		if err := spec.Prestart(ctx, cmd.Process.Pid); err != nil {
			return fail(fmt.Errorf("prestart: %w", err))
		}
	}
	if err := writeJSON(cfgW, initConfig{Spec: spec, Seccomp: prog}); err != nil {
		return fail(fmt.Errorf("send container config: %w", err))
	}
	cfgW.Close()
	if err := waitSetup(ctx, errR); err != nil {
		return fail(err)
	}
	if console != nil {
		if p.Console, err = receiveFD(console); err != nil {
			return fail(err)
		}
	}
	return p, nil
}

// waitSetup waits for the child's verdict on its error pipe, or ctx.
func waitSetup(ctx context.Context, r *os.File) error {
	done := make(chan error, 1)
	go func() { done <- readChildError(r) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		r.Close()
		return fmt.Errorf("start container: %w", ctx.Err())
	}
}
