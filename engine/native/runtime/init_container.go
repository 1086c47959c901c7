package runtime

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/seccomp"
	"github.com/hoist-dev/hoist/engine/native/runtime/stdio"
	"github.com/hoist-dev/hoist/engine/native/runtime/user"
)

// runInit is the container's init: pid 1 of the new namespaces, still
// hoist. It waits for the parent's configuration (sent only after the
// cgroup and network are ready), builds the root filesystem and then
// either becomes the command or, with Spec.Init, stays as a reaper.
func runInit() error {
	var cfg initConfig
	if err := readConfig(&cfg); err != nil {
		return err
	}
	s := cfg.Spec
	fc := s.final()
	fc.Seccomp = cfg.Seccomp
	switch s.Network.Mode {
	case NetworkJoin:
		if err := joinNetns(s.Network.Path); err != nil {
			return err
		}
	case NetworkNew:
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := setupRootfs(&s, cfg.Nodes); err != nil {
		return err
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if s.TTY {
		if err := stdio.SetupConsole(fdInitConsole, s.Size, !s.Init); err != nil {
			return err
		}
		// The terminal belongs to the command's user, as with Docker.
		if u, err := user.Resolve("/", s.User, s.GroupAdd); err == nil {
			_ = unix.Fchown(0, u.UID, u.GID)
		}
	}
	if s.Init {
		return reapCommand(fc, s.TTY)
	}
	return execFinal(fc)
}

// initConfig is what Start sends to the init: the spec, the seccomp
// filter compiled for it and the device nodes to make (Spec.Devices
// resolved on the host, after Docker's defaults).
type initConfig struct {
	Spec
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
	Nodes   []deviceNode     `json:"nodes,omitempty"`
}

// joinNetns moves this thread (the one that will exec, or start the
// command with Init) into the network namespace at path.
func joinNetns(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join network namespace %s: %w", path, err)
	}
	return nil
}

// loopbackUp brings lo up in the new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket for lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

// reapCommand is pid 1 with Spec.Init: it applies the command's
// credentials to this (locked) thread as execFinal would, forks the
// command from it (a child gets exactly its thread's ids, capabilities,
// bounding set, no_new_privs and seccomp filter, so the command starts as
// if execFinal had executed it), and then stays: it forwards every signal
// to the command, reaps every orphan, and exits with the command's status.
// It runs from the sealed memfd and is non-dumpable, so the container
// cannot reach the host binary through it; being confined like the
// command, it also cannot do more than the command could.
//
// The child is a raw fork and exec (syscall.ForkExec), not a second Go
// process: that second start cost every init: true container 10 ms.
func reapCommand(fc finalConfig, tty bool) error {
	argv0, env, err := prepareFinal(fc)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	attr := &syscall.ProcAttr{Env: env, Files: []uintptr{0, 1, 2}}
	if tty {
		// The command leads a session whose terminal is the pty, so ^C
		// reaches it (and its process group) from the line discipline.
		attr.Sys = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	pid, err := syscall.ForkExec(argv0, fc.Args, attr)
	if err != nil {
		return fmt.Errorf("exec %s: %w", fc.Args[0], err)
	}
	// The command runs: no more setup errors to report.
	_ = unix.Close(fdError)
	go func() {
		for sig := range sigs {
			switch sig {
			case syscall.SIGCHLD, syscall.SIGURG, syscall.SIGPIPE:
				// SIGURG is the Go runtime's own preemption signal.
				continue
			}
			if s, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(pid, s)
			}
		}
	}()
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			os.Exit(255)
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			os.Exit(ws.ExitStatus())
		case ws.Signaled():
			os.Exit(128 + int(ws.Signal()))
		}
	}
}
