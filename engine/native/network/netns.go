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
// Like ip netns, the directory is made a shared mount point (bound onto
// itself first if it is not a mount point). A container's mount namespace
// copies the host's mounts, including these bind mounts; with the directory
// shared (and the runtime making / rslave) our unmount propagates into
// those copies, so a removed namespace is really freed and its veths go.

// ensureSharedDir makes dir exist and be a shared mount point.
func ensureSharedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	err := unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s onto itself: %w", dir, err)
		}
		err = unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", dir, err)
	}
	return nil
}

// unmountDir undoes ensureSharedDir's self bind mount, if any.
func unmountDir(dir string) error {
	err := unix.Unmount(dir, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", dir, err)
}

// createNetns creates a new network namespace bind-mounted at path, which
// must not exist. The calling thread's namespace is untouched: the work is
// done on a locked thread that is thrown away afterwards.
func createNetns(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create netns file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine ends with the thread in the new
		// namespace, so the runtime terminates the thread instead of
		// reusing it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
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
