//go:build !hoistinit

package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/cgroup"
	"github.com/hoist-dev/hoist/engine/native/runtime/stdio"
	"github.com/hoist-dev/hoist/internal/userns"
)

// ExecSpec is a command to run inside a running container. The engine
// fills Security, Ulimits and the base of Env from the container's Spec,
// so the process gets the container's capabilities and seccomp profile.
type ExecSpec struct {
	Args     []string
	Env      []string
	Cwd      string
	User     string
	GroupAdd []string
	Security Security
	Ulimits  []Ulimit

	// The command's standard streams, as Spec's (see Handover).
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// TTY gives the command a terminal of size Size (a pty of the
	// container's devpts): Stdin feeds it, its output goes to Stdout
	// (Stderr is not used), and each value of Resize, when set, resizes it
	// until the command ends.
	TTY    bool
	Size   WinSize
	Resize <-chan WinSize
}

// Exec runs a command in the container whose init is pid and returns its
// exit code (128+n when killed by signal n) once it exited and its output
// is copied (see stdio.Streams.Finish). ctx cancellation kills it. The
// command runs in a session of its own (see Spawn).
//
// How namespaces are joined without cgo: setns(CLONE_NEWNS) refuses a
// process whose threads share their filesystem information, which every
// Go program's threads do, and setns(CLONE_NEWPID) only affects children.
// So a locked OS thread of this process joins the container's IPC, UTS,
// network and PID namespaces (all per-thread) and starts the helper,
// which is therefore born in them. The helper is hoist again, executed on
// the host's mount namespace where its loader lives; on its locked main
// thread it calls unshare(CLONE_FS), which gives that one thread private
// filesystem information, then setns(CLONE_NEWNS) succeeds, and that
// thread applies the user, capabilities and seccomp and executes the
// command: execve keeps only the calling thread's namespaces and root.
// The locked thread here is never unlocked, so Go discards it.
func Exec(ctx context.Context, pid int, spec ExecSpec) (int, error) {
	if len(spec.Args) == 0 {
		return -1, fmt.Errorf("%w: no command", ErrInvalidSpec)
	}
	nsFiles := map[string]*os.File{}
	defer func() {
		for _, f := range nsFiles {
			f.Close()
		}
	}()
	for _, ns := range []string{"ipc", "uts", "net", "pid", "mnt"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil {
			return -1, fmt.Errorf("open container namespace: %w", err)
		}
		nsFiles[ns] = f
	}
	cg, err := cgroup.OfProcess(pid)
	if err != nil {
		return -1, err
	}
	if frozen, _ := cg.Frozen(); frozen {
		return -1, ErrPaused
	}
	prog, err := seccompFor(spec.Security)
	if err != nil {
		return -1, err
	}
	self, _, err := initExecutableFor(spec.Security)
	if err != nil {
		return -1, err
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	defer cfgW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return -1, err
	}
	defer errR.Close()
	cmd := &exec.Cmd{
		Path:        fmt.Sprintf("/proc/self/fd/%d", fdMountNS+1),
		Args:        []string{roleFinal, argJoinMountNS},
		Env:         []string{},
		ExtraFiles:  []*os.File{cfgR, errW, nsFiles["mnt"], self},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	var console *os.File       // our end of the console socket
	var streams *stdio.Streams // nil with TTY
	if spec.TTY {
		var child *os.File
		if console, child, err = stdio.ConsoleSocket(); err != nil {
			cfgR.Close()
			errW.Close()
			return -1, err
		}
		defer console.Close()
		defer child.Close()
		// The helper's own streams (/dev/null) are unused: the pty
		// replaces them.
		cmd.ExtraFiles = append(cmd.ExtraFiles, child) // fdConsole
	} else {
		if streams, err = stdio.New(spec.Stdin, spec.Stdout, spec.Stderr); err != nil {
			cfgR.Close()
			errW.Close()
			return -1, err
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = streams.Child()
	}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: this thread ends up in the container's namespaces.
		goruntime.LockOSThread()
		for _, ns := range []struct {
			name string
			flag int
		}{{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}} {
			// A namespace this thread is in already is not joined
			// again: setns checks the caller's capabilities over the
			// namespace's owner even then, and a rootless exec into a
			// container on the host's network is in that namespace
			// with none over it.
			if sameNamespace(nsFiles[ns.name], ns.name) {
				continue
			}
			if err := unix.Setns(int(nsFiles[ns.name].Fd()), ns.flag); err != nil {
				started <- fmt.Errorf("join container %s namespace: %w", ns.name, err)
				return
			}
		}
		started <- cmd.Start()
	}()
	err = <-started
	cfgR.Close()
	errW.Close()
	streams.CloseChildEnds()
	if err != nil {
		streams.Abort()
		return -1, fmt.Errorf("start exec helper: %w", err)
	}
	fail := func(err error) (int, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		streams.Abort()
		return -1, err
	}
	// A container in a user namespace has no cgroups of its own (see
	// Start): the exec stays in the user's, as its container does.
	if err := cg.Add(cmd.Process.Pid); err != nil && !userns.Inside() {
		return fail(fmt.Errorf("join container cgroup: %w", err))
	}
	fc := finalConfig{Args: spec.Args, Env: spec.Env, Cwd: spec.Cwd, User: spec.User, GroupAdd: spec.GroupAdd, Security: spec.Security, Ulimits: spec.Ulimits, Seccomp: prog}
	if err := writeJSON(cfgW, execConfig{finalConfig: fc, TTY: spec.TTY, Size: spec.Size}); err != nil {
		return fail(fmt.Errorf("send exec config: %w", err))
	}
	cfgW.Close()
	if err := waitSetup(ctx, errR); err != nil {
		return fail(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	drain := streams.Finish
	if spec.TTY {
		master, err := stdio.ReceiveConsole(console)
		if err != nil {
			return fail(err)
		}
		drain = stdio.ServeConsole(master, spec.Stdin, spec.Stdout, spec.Resize)
	}
	streams.Start()
	err = cmd.Wait()
	drain()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -1, fmt.Errorf("wait for exec: %w", err)
	}
	if ctx.Err() != nil {
		return exitCode(cmd.ProcessState), fmt.Errorf("exec: %w", ctx.Err())
	}
	return exitCode(cmd.ProcessState), nil
}

// sameNamespace reports whether f is the namespace of kind name that the
// calling thread is in (the same nsfs inode).
func sameNamespace(f *os.File, name string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat("/proc/thread-self/ns/"+name, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
