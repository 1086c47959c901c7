// Package rootfswrite applies watch sync changes to a container's root
// filesystem seen from the host (the native engine's merged overlay, or
// Docker's when dockerd runs on this host). Paths are resolved with
// openat2: the rule's target within the container's root (RESOLVE_IN_ROOT,
// so an absolute symlink in the image stays inside it), and everything
// below the target with no symlinks at all, so a link in the container
// cannot redirect a write outside the target.
package rootfswrite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
)

// Apply writes (or deletes) each change inside the root directory rootfs.
func Apply(ctx context.Context, rootfs string, changes []engine.SyncChange) error {
	root, err := os.Open(rootfs)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer root.Close()
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := syncOne(int(root.Fd()), c); err != nil {
			return fmt.Errorf("%s: %w", c.ContainerPath, err)
		}
	}
	return nil
}

func syncOne(rootfd int, c engine.SyncChange) error {
	target := path.Clean(c.Root)
	if c.Root == "" {
		target = path.Dir(path.Clean(c.ContainerPath))
	}
	p := path.Clean(c.ContainerPath)
	if !path.IsAbs(p) || (p != target && !strings.HasPrefix(p, strings.TrimSuffix(target, "/")+"/")) {
		return fmt.Errorf("not under the rule's target %q", target)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, target), "/")
	if rel == "" {
		// A rule on a single file: the target is the file; write it in
		// its parent directory.
		target, rel = path.Dir(p), path.Base(p)
	}
	tfd, err := openTarget(rootfd, target, !c.Deleted)
	if err != nil {
		if c.Deleted && errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	defer unix.Close(tfd)
	dir, name := path.Split(rel)
	dfd, err := openBeneath(tfd, strings.TrimSuffix(dir, "/"), !c.Deleted)
	if err != nil {
		if c.Deleted && errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	defer unix.Close(dfd)
	if c.Deleted {
		return removeAt(dfd, name)
	}
	return writeAt(dfd, name, c.HostPath)
}

// openTarget opens (creating when asked) the rule's target directory,
// resolving it as the container would see it.
func openTarget(rootfd int, target string, create bool) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT}
	fd, err := unix.Openat2(rootfd, strings.TrimPrefix(target, "/"), how)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	// Create the missing components one by one, each resolved in root.
	cur := ""
	for _, comp := range strings.Split(strings.Trim(target, "/"), "/") {
		cur = path.Join(cur, comp)
		if err := unix.Mkdirat(rootfd, cur, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			// Mkdirat does not resolve in root; fall back to openat2 checks.
			if _, oerr := unix.Openat2(rootfd, cur, how); oerr != nil {
				return -1, err
			}
		}
	}
	return unix.Openat2(rootfd, strings.TrimPrefix(target, "/"), how)
}

// openBeneath opens dir below parent refusing every symlink on the way.
func openBeneath(parent int, dir string, create bool) (int, error) {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
	if dir == "" {
		return unix.Openat2(parent, ".", how)
	}
	fd, err := unix.Openat2(parent, dir, how)
	if err == nil || !create || !errors.Is(err, unix.ENOENT) {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("a directory on the way is a symlink or a file in the container; refusing to write through it: %w", err)
		}
		return fd, err
	}
	cur, err := unix.Openat2(parent, ".", how)
	if err != nil {
		return -1, err
	}
	for _, comp := range strings.Split(dir, "/") {
		if err := unix.Mkdirat(cur, comp, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			unix.Close(cur)
			return -1, err
		}
		next, err := unix.Openat2(cur, comp, how)
		unix.Close(cur)
		if err != nil {
			return -1, fmt.Errorf("a directory on the way is a symlink in the container; refusing to write through it: %w", err)
		}
		cur = next
	}
	return cur, nil
}

// writeAt replaces name in dir atomically (temporary file, rename), so a
// reader in the container never sees half a file. A symlink on the host is
// recreated as a symlink, never followed.
func writeAt(dirfd int, name, hostPath string) error {
	fi, err := os.Lstat(hostPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // gone since the event; a later batch deletes it
		}
		return err
	}
	tmp := ".hoist-sync-" + name
	if len(tmp) > 255 {
		tmp = tmp[:255]
	}
	_ = unix.Unlinkat(dirfd, tmp, 0)
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		link, err := os.Readlink(hostPath)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(link, dirfd, tmp); err != nil {
			return err
		}
	case fi.IsDir():
		if err := unix.Mkdirat(dirfd, name, uint32(fi.Mode().Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	case fi.Mode().IsRegular():
		if err := copyInto(dirfd, tmp, hostPath, fi.Mode().Perm()); err != nil {
			_ = unix.Unlinkat(dirfd, tmp, 0)
			return err
		}
	default:
		return nil // devices, sockets and fifos are not synced
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		_ = unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	return nil
}

func copyInto(dirfd int, name, hostPath string, perm os.FileMode) error {
	src, err := os.Open(hostPath)
	if err != nil {
		return err
	}
	defer src.Close()
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm))
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(fd), name)
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeAt deletes name (recursively for a directory) without following
// symlinks: a symlink is removed itself.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
	sub, err := unix.Openat2(dirfd, name, how)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(sub), name)
	entries, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, e := range entries {
		if err := removeAt(sub, e); err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}
