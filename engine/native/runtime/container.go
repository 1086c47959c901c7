package runtime

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
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
	// The reaper's child must be started before pivot_root: hoist may be
	// dynamically linked, and its loader is not in the container. It waits
	// for its configuration; pivot_root moves its root along with ours.
	var child *finalChild
	if s.Init {
		var err error
		if child, err = startFinalChild(); err != nil {
			return err
		}
	}
	if err := setupRootfs(&s); err != nil {
		return err
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if child != nil {
		return child.reap(fc)
	}
	return execFinal(fc)
}

// initConfig is what Start sends to the init: the spec and the seccomp
// filter compiled for it.
type initConfig struct {
	Spec
	Seccomp *seccompProgram `json:"seccomp,omitempty"`
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

// finalChild is the command's process under an Init reaper, still hoist
// (from the sealed memfd) until it receives its configuration.
type finalChild struct {
	proc *os.Process
	cfg  *os.File
}

func startFinalChild() (*finalChild, error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		cfgW.Close()
		return nil, err
	}
	defer readyR.Close()
	attr := &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, cfgR, os.NewFile(fdError, "error-pipe"), os.NewFile(fdSelf, "hoist-memfd"), readyW},
	}
	proc, err := os.StartProcess(fmt.Sprintf("/proc/self/fd/%d", fdSelf), []string{roleFinal, argReady}, attr)
	readyW.Close()
	if err != nil {
		cfgW.Close()
		return nil, fmt.Errorf("start command: %w", err)
	}
	// Wait until the child runs Go code, that is, until its dynamic loader
	// (if any) has loaded everything from the host's root: after
	// pivot_root it could not.
	if _, err := readyR.Read(make([]byte, 1)); err != nil {
		_ = proc.Kill()
		cfgW.Close()
		return nil, fmt.Errorf("start command: child did not start: %w", err)
	}
	return &finalChild{proc: proc, cfg: cfgW}, nil
}

// reap sends the child its configuration and stays pid 1: it forwards
// every signal to the command, reaps every orphan, and exits with the
// command's status. It is still hoist, but runs from the sealed memfd and
// is non-dumpable, so the container cannot reach the host binary through
// it.
func (c *finalChild) reap(fc finalConfig) error {
	// Only the child reports errors from now on.
	_ = unix.Close(fdError)
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	go func() {
		for sig := range sigs {
			switch sig {
			case syscall.SIGCHLD, syscall.SIGURG, syscall.SIGPIPE:
				// SIGURG is the Go runtime's own preemption signal.
				continue
			}
			_ = c.proc.Signal(sig)
		}
	}()
	if err := writeJSON(c.cfg, fc); err != nil {
		_ = c.proc.Kill()
	}
	c.cfg.Close()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			os.Exit(255)
		}
		if pid != c.proc.Pid {
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
