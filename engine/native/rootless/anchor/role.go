// Package anchor is the holder's side of rootless hoist: the process that
// holds a project's user, mount and network namespaces once package
// rootless (the user's side) has made and mapped them, keeps its
// supervisor running and reaps what its containers leave.
package anchor

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	goruntime "runtime"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/rootless"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

func init() {
	runtime.RegisterRole(rootless.RoleAnchor, runAnchor)
	runtime.RegisterRole(rootless.RoleKeepID, runKeepID)
}

// runAnchor holds the namespaces: it makes the project's network
// namespace on a thread parked in it, says "ok <tid>" on fd 4 and then
// lives until fd 3 ends (a command's holder) or it is told to stop (a
// project's anchor).
func runAnchor() int {
	ready := os.NewFile(4, "ready")
	var cfg rootless.HolderConfig
	if err := json.Unmarshal([]byte(os.Args[1]), &cfg); err != nil {
		fmt.Fprintf(ready, "anchor config: %v\n", err)
		return 1
	}
	tid, err := parkNetNS()
	if err != nil {
		fmt.Fprintf(ready, "project network namespace: %v\n", err)
		return 1
	}
	keep := os.NewFile(3, "keep")
	if cfg.Project == "" {
		fmt.Fprintf(ready, "ok %d %d\n", tid, os.Getpid())
		ready.Close()
		_, _ = io.Copy(io.Discard, keep)
		return 0
	}
	keep.Close()
	// Listening before it is ready: the engine asks it for the
	// supervisor right away.
	sock := rootless.SocketFile(cfg.RunDir, cfg.Project)
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintf(ready, "anchor socket: %v\n", err)
		return 1
	}
	defer os.Remove(sock)
	fmt.Fprintf(ready, "ok %d %d\n", tid, os.Getpid())
	ready.Close()
	return anchorLoop(ln, tid)
}

// parkNetNS makes a network namespace on a thread of its own, with its
// loopback up, and parks the thread there for the process's life: the
// namespace lives as long as the thread, and the host side enters it by
// /proc/<pid>/task/<tid>/ns/net. This process's other threads stay in
// the host's network namespace, where the user's ports are.
func parkNetNS() (int, error) {
	type result struct {
		tid int
		err error
	}
	ch := make(chan result)
	go func() {
		// Never unlocked: the thread is in another namespace for good.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		if err := loopbackUp(); err != nil {
			ch <- result{err: err}
			return
		}
		ch <- result{tid: unix.Gettid()}
		select {}
	}()
	r := <-ch
	return r.tid, r.err
}

// loopbackUp sets lo up in this thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

// anchorLoop is a project's anchor: the subreaper of what runs in its
// namespaces (container inits whose supervisor died come here), the
// keeper of the project's supervisor, until SIGTERM.
func anchorLoop(ln net.Listener, netTID int) int {
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	logger := log.New(os.Stderr, "", log.LstdFlags)
	k := &keeper{netns: fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), netTID), logf: logger.Printf}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	go k.serve(ln)
	for s := range sigs {
		switch s {
		case unix.SIGCHLD:
			reap(k.exited)
		default:
			return 0
		}
	}
	return 0
}

// reap collects every exited child, telling exited.
func reap(exited func(int, unix.WaitStatus)) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		exited(pid, ws)
	}
}
