//go:build !hoistinit

package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/cgroup"
	"github.com/hoist-dev/hoist/engine/native/runtime/stdio"
	"github.com/hoist-dev/hoist/internal/userns"
)

// Process is a running container: its init process and its cgroup.
type Process struct {
	cmd     *exec.Cmd
	cg      *cgroup.Container
	streams *stdio.Streams // nil with a terminal
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

// Wait waits for the container's init to exit and for its output (see
// stdio.Streams.Finish), and returns its exit code, 128+n when killed by
// signal n.
// It may be called more than once.
func (p *Process) Wait() (int, error) {
	p.waitOnce.Do(func() {
		err := p.cmd.Wait()
		p.streams.Finish()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
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
	return p.cg.Destroy()
}

// Start starts a container and returns once its command is executing (or
// its Init is running the command). ctx bounds the start only.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	s, err := Spawn(SpawnOptionsOf(spec))
	if err != nil {
		return nil, err
	}
	return s.Start(ctx, spec)
}

// SpawnOptions is what the container init must be started with, before
// its configuration is known: everything else travels in the Spec.
type SpawnOptions struct {
	// NewNetwork gives it a network namespace of its own (NetworkNew).
	NewNetwork bool
	TTY        bool
	// The container's standard streams, as Spec's (see Handover). Stdin
	// is not read before Spawned.Start.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Security picks what the init runs from (initExecutableFor).
	Security Security
}

// SpawnOptionsOf is what spec needs.
func SpawnOptionsOf(spec Spec) SpawnOptions {
	return SpawnOptions{NewNetwork: spec.Network.Mode == NetworkNew, TTY: spec.TTY,
		Stdin: spec.Stdin, Stdout: spec.Stdout, Stderr: spec.Stderr, Security: spec.Security}
}

// Spawned is a container init started ahead of its configuration. The
// init's own start (a Go runtime, several milliseconds) then overlaps
// with whatever the caller does before Start: creating the container's
// record and writable layer, for one.
type Spawned struct {
	opts      SpawnOptions
	fromCache bool // runs from the shared immutable init (initexe/cache.go)
	cmd       *exec.Cmd
	cfgW      *os.File
	errR      *os.File
	console   *os.File       // our end of the console socket (TTY)
	streams   *stdio.Streams // nil with TTY
	used      bool
}

// Spawn starts a container init that waits for its Spec (Start) in new
// mount, pid, uts and ipc namespaces (and a network one with NewNetwork),
// and in a session of its own with no controlling terminal: /dev/tty in
// the container is no one's, and the caller's terminal (of which the
// container has no descriptor either: see Handover) stays out of reach.
// The caller must Start or Abort it.
func Spawn(opts SpawnOptions) (*Spawned, error) {
	self, fromCache, err := initExecutableFor(opts.Security)
	if err != nil {
		return nil, err
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		return nil, err
	}
	s := &Spawned{opts: opts, fromCache: fromCache, cfgW: cfgW, errR: errR}
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if opts.NewNetwork {
		flags |= unix.CLONE_NEWNET
	}
	s.cmd = &exec.Cmd{
		Path:        fmt.Sprintf("/proc/self/fd/%d", fdSelf),
		Args:        []string{roleInit},
		Env:         []string{},
		ExtraFiles:  []*os.File{cfgR, errW, self},
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: flags, Setsid: true},
	}
	var child *os.File
	if opts.TTY {
		// The streams are the terminal's (the init's own, until then,
		// are /dev/null).
		s.console, child, err = stdio.ConsoleSocket()
		s.cmd.ExtraFiles = append(s.cmd.ExtraFiles, child) // fdInitConsole
	} else if s.streams, err = stdio.New(opts.Stdin, opts.Stdout, opts.Stderr); err == nil {
		s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = s.streams.Child()
	}
	if err == nil {
		if err = s.cmd.Start(); err != nil {
			err = fmt.Errorf("start container init: %w", err)
		}
	}
	cfgR.Close()
	errW.Close()
	if child != nil {
		child.Close()
	}
	s.streams.CloseChildEnds()
	if err != nil {
		s.closePipes()
		return nil, err
	}
	return s, nil
}

func (s *Spawned) closePipes() {
	for _, f := range []*os.File{s.cfgW, s.errR, s.console} {
		if f != nil {
			f.Close()
		}
	}
	s.streams.Abort()
}

// matches reports whether the spawned init can run spec. Its standard
// streams are the ones it was spawned with (spec's are not looked at).
func (s *Spawned) matches(spec Spec) bool {
	o := s.opts
	return o.NewNetwork == (spec.Network.Mode == NetworkNew) && o.TTY == spec.TTY &&
		(!s.fromCache || !mayClearImmutable(spec.Security))
}

// Abort kills and reaps the spawned init. It is a no-op after Start.
func (s *Spawned) Abort() {
	if s == nil || s.used {
		return
	}
	s.used = true
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.closePipes()
}

// Start configures the spawned init to run spec and returns once the
// command is executing (or its Init is running the command), as the
// package's Start does, with the standard streams given to Spawn. When
// spec needs an init spawned otherwise (a guess that turned out wrong),
// the spawned one is dropped and a new one made. ctx bounds the start
// only.
func (s *Spawned) Start(ctx context.Context, spec Spec) (*Process, error) {
	if s.used {
		return nil, errors.New("start container: init already used")
	}
	if err := spec.validate(); err != nil {
		s.Abort()
		return nil, err
	}
	if !s.matches(spec) {
		s.Abort()
		opts := SpawnOptionsOf(spec)
		opts.Stdin, opts.Stdout, opts.Stderr = s.opts.Stdin, s.opts.Stdout, s.opts.Stderr
		again, err := Spawn(opts)
		if err != nil {
			return nil, err
		}
		return again.Start(ctx, spec)
	}
	s.used = true
	defer s.cfgW.Close()
	defer s.errR.Close()
	if s.console != nil {
		defer s.console.Close()
	}
	cmd := s.cmd
	p := &Process{cmd: cmd, streams: s.streams}
	fail := func(err error) (*Process, error) {
		_ = cmd.Process.Kill()
		_, _ = p.Wait()
		return nil, errors.Join(err, p.Cleanup())
	}
	prog, err := seccompFor(spec.Security)
	if err != nil {
		return fail(err)
	}
	nodes, access, err := resolveDevices(spec.Devices)
	if err != nil {
		return fail(err)
	}
	// In a user namespace (rootless) there are no cgroups to make: cgroup
	// v1 gives a user none, and v2's delegation is not used yet. The
	// engine warned about each limit (rootlessLimits); the device rules'
	// protection is the namespace's: its root may open no host device
	// node it was not given, and mknod makes none it could use.
	if !userns.Inside() {
		if p.cg, err = cgroup.Of(spec.ID); err != nil {
			return fail(err)
		}
		if err := p.cg.Create(cgroup.Resources(spec.Resources), deviceRules(spec.Security.Privileged, nodes, access, spec.DeviceRules)); err != nil {
			return fail(err)
		}
		if err := p.cg.Add(cmd.Process.Pid); err != nil {
			return fail(err)
		}
	}
	if spec.Prestart != nil {
		if err := spec.Prestart(ctx, cmd.Process.Pid); err != nil {
			return fail(fmt.Errorf("prestart: %w", err))
		}
	}
	if spec.Network.Mode == NetworkJoin && !strings.HasPrefix(spec.Network.Path, "/proc/") {
		// The namespace to join may be a bind mount made after the init
		// was spawned, which its copy of the mount tree lacks; our open
		// descriptor of it, through the host's /proc it still sees, is
		// the same namespace.
		ns, err := os.Open(spec.Network.Path)
		if err != nil {
			return fail(fmt.Errorf("open network namespace: %w", err))
		}
		defer ns.Close()
		spec.Network.Path = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ns.Fd())
	}
	if err := writeJSON(s.cfgW, initConfig{Spec: spec, Seccomp: prog, Nodes: append(defaultDeviceNodes(), nodes...)}); err != nil {
		return fail(fmt.Errorf("send container config: %w", err))
	}
	s.cfgW.Close()
	if err := waitSetup(ctx, s.errR); err != nil {
		return fail(err)
	}
	if s.console != nil {
		if p.Console, err = stdio.ReceiveConsole(s.console); err != nil {
			return fail(err)
		}
	}
	// The container runs: its stdin is read from now on (not before: an
	// init dropped for another would have lost what it read).
	p.streams.Start()
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
