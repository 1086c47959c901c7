// Package rootfswrite applies watch sync changes to a container's root
// filesystem seen from the host (the native engine's merged overlay, or
// Docker's when dockerd runs on this host). Paths are resolved with
// internal/inroot: the rule's target within the container's root (InRoot,
// so a symlink in the container means what it means there and never
// reaches the host), and everything below the target with no symlinks at
// all (NoSymlinks), so a link in the container cannot redirect a write
// outside the target.
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
	"github.com/hoist-dev/hoist/internal/inroot"
)

// Apply writes (or deletes) each change inside the root directory rootfs.
func Apply(ctx context.Context, rootfs string, changes []engine.SyncChange) error {
	root, err := inroot.Open(rootfs)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer root.Close()
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := syncOne(root, c); err != nil {
			return fmt.Errorf("%s: %w", c.ContainerPath, err)
		}
	}
	return nil
}

func syncOne(root *inroot.Root, c engine.SyncChange) error {
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
	dir, name := path.Split(rel)
	var t, d *inroot.Root
	var err error
	if c.Deleted {
		if t, err = root.OpenDir(target, inroot.InRoot); err == nil {
			d, err = t.OpenDir(dir, inroot.NoSymlinks)
		}
	} else if t, err = root.MkdirAll(target, inroot.InRoot, 0o755, nil); err == nil {
		d, err = t.MkdirAll(dir, inroot.NoSymlinks, 0o755, nil)
	}
	t.Close()
	switch {
	case err == nil:
	case c.Deleted && errors.Is(err, unix.ENOENT):
		return nil
	case t != nil && (errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)):
		return fmt.Errorf("a directory on the way is a symlink or a file in the container; refusing to write through it: %w", err)
	default:
		return err
	}
	defer d.Close()
	if c.Deleted {
		return inroot.RemoveAt(d.FD(), name)
	}
	return writeAt(d.FD(), name, c.HostPath)
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
