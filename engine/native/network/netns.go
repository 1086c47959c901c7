package network

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Named network namespaces, the way "ip netns add" makes them: an empty
// file with the namespace bind-mounted onto it, so the namespace lives
// without any process in it and another process can join or remove it
// by path.
//
// They live under the project's state directory, not /run/netns: "ip netns"
// and tools that sweep it ("ip netns delete -all") leave hoist's alone, and
// everything of a project is under one directory that Teardown owns. To
// look inside one: nsenter --net=<path> ip addr.
//
// A container's mount namespace is a copy of the host's and so holds a
// copy of the bind mount, which keeps the namespace alive. ip netns makes
// its directory a shared mount for this; we rely on the kernel instead:
// unlinking a mount point (removeNetns does) detaches the mounts on it in
// every mount namespace (Linux 3.18 and later). TestNetnsMountPropagates
// checks it.

// createNetns creates a new network namespace bind-mounted at path, which
// must not exist. The calling thread's namespace is untouched: the work is
// done on a locked thread that returns to its namespace afterwards (or, if
// it cannot, is thrown away). Returning matters: a goroutine that ends
// locked on the main thread wedges that thread instead of ending it, and
// the main thread's namespace is what /proc/self/net shows, so the host's
// routes (netplan.HostRoutes) would be read from the new namespace.
func createNetns(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		err = unix.Mount(src, path, "none", unix.MS_BIND, "")
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the goroutine ends locked and the thread goes with it
		if err != nil {
			errc <- fmt.Errorf("bind-mount network namespace on %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// removeNetns unmounts and removes the namespace file at path; what is
// already gone is fine. The namespace itself dies when nothing else holds
// it (a process in it, an open fd, another mount).
func removeNetns(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}
