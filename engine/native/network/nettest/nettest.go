// Package nettest runs network tests inside a network namespace of their
// own, so that bridges, nftables tables and sysctls never touch the
// host's, and runs code inside the namespaces the tests create.
package nettest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const envInner = "HOIST_NETTEST_INNER"

// Main is TestMain's body. As root, it runs the test binary again in a
// new network namespace (which dies with it) with lo up, and returns its
// exit code; otherwise it runs the tests here, where the root ones skip.
func Main(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run()
	}
	if os.Getenv(envInner) == "1" {
		if err := loUp(); err != nil {
			fmt.Fprintln(os.Stderr, "nettest:", err)
			return 1
		}
		return m.Run()
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), envInner+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: unix.SIGKILL}
	// Pdeathsig follows the forking thread: keep it alive while we wait.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "nettest:", err)
		return 1
	}
	return 0
}

// Root skips t unless it runs as root in Main's namespace.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 || os.Getenv(envInner) != "1" {
		t.Skip("needs root (and nettest.Main)")
	}
}

func loUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}

// Do runs f on an OS thread inside the network namespace at path. Sockets
// f opens stay in that namespace and may be used from anywhere; the thread
// itself is thrown away afterwards.
func Do(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
