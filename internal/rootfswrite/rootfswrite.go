// Package rootfswrite applies watch sync changes to a container's root
// file system: Docker's merged overlay directory seen from the host (when
// dockerd runs on this host), or the root of the native engine's copy
// helper, which sits in the container's mount namespace. Paths are
// resolved with internal/inroot: the rule's target within the container's
// root (InRoot, so a symlink in the container means what it means there
// and never reaches the host), and everything below the target with no
// symlinks at all (NoSymlinks), so a link in the container cannot redirect
// a write outside the target.
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

	"github.com/hoist-dev/hoist/internal/inroot"
)

// Change is one path to write or delete in the container.
type Change struct {
	Path string `json:"path"` // absolute, in the container
	// HostPath is the host file a write copies (Apply's changes).
	HostPath string `json:"-"`
	// Root is the watch rule's target: Path is under it, and nothing
	// between Root and Path may be a symlink ("" : Path's directory).
	Root    string `json:"root,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

// Content is what a write puts at a change's path: a directory, a
// symlink to Link, or a regular file of Data (os.ModePerm bits of Mode).
type Content struct {
	Mode os.FileMode
	Link string
	Data io.Reader
}

// Apply writes (or deletes) each change inside the root directory rootfs,
// reading what to write from the host files the changes name.
func Apply(ctx context.Context, rootfs string, changes []Change) error {
	root, err := inroot.Open(rootfs)
	if err != nil {
		return fmt.Errorf("open rootfs: %w", err)
	}
	defer root.Close()
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := applyHost(root, c); err != nil {
			return fmt.Errorf("%s: %w", c.Path, err)
		}
	}
	return nil
}

func applyHost(root *inroot.Root, c Change) error {
	if c.Deleted {
		return ApplyOne(root, c, nil)
	}
	content, done, err := HostContent(c.HostPath)
	if err != nil || content == nil {
		return err
	}
	defer done()
	return ApplyOne(root, c, content)
}

// HostContent reads what a change writes from the host file p, not
// following it: nil when it is gone (a later batch deletes it) or is not
// something synced (a device, a socket, a fifo). done releases it.
func HostContent(p string) (*Content, func(), error) {
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		link, err := os.Readlink(p)
		if err != nil {
			return nil, nil, err
		}
		return &Content{Mode: os.ModeSymlink, Link: link}, func() {}, nil
	case fi.IsDir():
		return &Content{Mode: os.ModeDir | fi.Mode().Perm()}, func() {}, nil
	case fi.Mode().IsRegular():
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		return &Content{Mode: fi.Mode().Perm(), Data: f}, func() { f.Close() }, nil
	}
	return nil, nil, nil
}

// ApplyOne writes content at c.Path, or deletes it: its directory is the
// rule's target resolved in root, then the directories below it, none a
// symlink.
func ApplyOne(root *inroot.Root, c Change, content *Content) error {
	target := path.Clean(c.Root)
	if c.Root == "" {
		target = path.Dir(path.Clean(c.Path))
	}
	p := path.Clean(c.Path)
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
	if content == nil {
		return nil
	}
	return writeAt(d.FD(), name, content)
}

// writeAt replaces name in dir atomically (temporary file, rename), so a
// reader in the container never sees half a file. A symlink is written as
// a symlink.
func writeAt(dirfd int, name string, c *Content) error {
	tmp := ".hoist-sync-" + name
	if len(tmp) > 255 {
		tmp = tmp[:255]
	}
	_ = unix.Unlinkat(dirfd, tmp, 0)
	switch {
	case c.Mode&os.ModeSymlink != 0:
		if err := unix.Symlinkat(c.Link, dirfd, tmp); err != nil {
			return err
		}
	case c.Mode.IsDir():
		if err := unix.Mkdirat(dirfd, name, uint32(c.Mode.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	case c.Mode.IsRegular():
		if err := copyInto(dirfd, tmp, c.Data, c.Mode.Perm()); err != nil {
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

func copyInto(dirfd int, name string, src io.Reader, perm os.FileMode) error {
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
