package volume

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/inroot"
)

// Fill is a volume to fill from the image: its use by the container and
// the host directory it mounts.
type Fill struct {
	Use store.VolumeUse
	Dst string
}

// Fills lists the volumes of r that are filled from the image on this
// start: the empty ones, unless nocopy.
func (s Store) Fills(r *store.Record) ([]Fill, error) {
	var fills []Fill
	for _, u := range r.Volumes {
		if u.NoCopy {
			continue
		}
		vr, err := s.Read(u.Name)
		if err != nil {
			return nil, err
		}
		dst := s.Data(vr)
		if empty, err := isEmptyDir(dst); err != nil || !empty {
			continue
		}
		fills = append(fills, Fill{Use: u, Dst: dst})
	}
	return fills, nil
}

// CopyUp copies the image's content at each fill's target into its
// volume, as Docker does on first use. rootfs is the mounted container
// root.
func CopyUp(rootfs string, fills []Fill) error {
	for _, f := range fills {
		if err := CopyFromRootfs(rootfs, f.Use.Target, f.Dst); err != nil {
			return fmt.Errorf("copy %s from the image into volume %s: %w", f.Use.Target, f.Use.Name, err)
		}
	}
	return nil
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// CopyFromRootfs copies the directory target of the rootfs to dst. The
// image (and an earlier run of the container) decides what is there, so
// target is resolved inside the rootfs and the copy never follows a
// symlink: links are copied as links. dst, a volume other containers may
// be using, is written with no symlink followed either (internal/inroot).
// Ownership and modes are kept.
func CopyFromRootfs(rootfs, target, dst string) error {
	root, err := inroot.Open(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	src, err := root.OpenDir(target, inroot.InRoot)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing to copy
	}
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := inroot.Open(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	top, err := out.OpenFile(".", inroot.NoSymlinks, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	err = setOwnerMode(int(top.Fd()), &st)
	top.Close()
	if err != nil {
		return err
	}
	c := &copier{out: out}
	defer c.close()
	return src.Walk(c.entry)
}

// copier writes the entries of a walk below out, keeping the
// directory of the last one open, since a walk lists a directory's
// entries one after another.
type copier struct {
	out     *inroot.Root
	dirPath string
	dir     *inroot.Root
}

func (c *copier) close() { c.dir.Close() }

func (c *copier) entry(e *inroot.Entry) error {
	if p := path.Dir(e.Path); c.dir == nil || p != c.dirPath {
		d, err := c.out.OpenDir(p, inroot.NoSymlinks)
		if err != nil {
			return err
		}
		c.dir.Close()
		c.dir, c.dirPath = d, p
	}
	dir := c.dir.FD()
	switch e.Type() {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dir, e.Name, 0o700); err != nil {
			return &os.PathError{Op: "mkdir", Path: e.Path, Err: err}
		}
		fd, err := unix.Openat(dir, e.Name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: e.Path, Err: err}
		}
		defer unix.Close(fd)
		return setOwnerMode(fd, &e.Stat)
	case unix.S_IFLNK:
		link, err := e.Readlink()
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(link, dir, e.Name); err != nil {
			return &os.PathError{Op: "symlink", Path: e.Path, Err: err}
		}
		return unix.Fchownat(dir, e.Name, int(e.Stat.Uid), int(e.Stat.Gid), unix.AT_SYMLINK_NOFOLLOW)
	case unix.S_IFREG:
		in, err := e.Open()
		if err != nil {
			return err
		}
		defer in.Close()
		fd, err := unix.Openat(dir, e.Name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "create", Path: e.Path, Err: err}
		}
		f := os.NewFile(uintptr(fd), e.Path)
		_, err = io.Copy(f, in)
		if err == nil {
			err = setOwnerMode(fd, &e.Stat)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	default:
		return nil // devices, fifos and sockets are not copied
	}
}

// setOwnerMode gives the open file fd st's owner, then its mode (chown
// clears setuid bits).
func setOwnerMode(fd int, st *unix.Stat_t) error {
	if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Fchmod(fd, st.Mode&0o7777)
}
