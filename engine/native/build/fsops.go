package build

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/inroot"
)

// destFS writes into a mounted rootfs, which earlier steps (RUN among
// them) filled, without ever following a symlink out of it: every path is
// resolved by internal/inroot inside the root (InRoot), so the image's
// symlinks mean what they mean inside the container, and the final
// component is created with O_NOFOLLOW|O_EXCL after removing what was there.
type destFS struct {
	root *inroot.Root
}

func openDest(dir string) (*destFS, error) {
	r, err := inroot.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open rootfs: %w", err)
	}
	return &destFS{root: r}, nil
}

func (d *destFS) Close() { d.root.Close() }

// openDir resolves directory p inside the root (following symlinks there).
func (d *destFS) openDir(p string) (*inroot.Root, error) {
	return d.root.OpenDir(p, inroot.InRoot)
}

// openFile opens file p inside the root for reading.
func (d *destFS) openFile(p string) (*os.File, error) {
	return d.root.OpenFile(p, inroot.InRoot, unix.O_RDONLY, 0)
}

func (d *destFS) isDir(p string) bool {
	dir, err := d.openDir(p)
	if err != nil {
		return false
	}
	dir.Close()
	return true
}

// owner is who new entries belong to; nil keeps the source's owner.
type owner struct{ uid, gid int }

// mkdirAll opens directory p, creating it and its missing parents first
// (mode 0755, owned by own or root).
func (d *destFS) mkdirAll(p string, own *owner) (*inroot.Root, error) {
	return d.root.MkdirAll(p, inroot.InRoot, 0o755, func(dirfd int, name, _ string) error {
		return chownAt(dirfd, name, own, 0, 0)
	})
}

func chownAt(dir int, name string, own *owner, uid, gid int) error {
	if own != nil {
		uid, gid = own.uid, own.gid
	}
	if err := unix.Fchownat(dir, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", name, err)
	}
	return nil
}

// clearFor removes what is at dir/name unless it is a directory and a
// directory is wanted; it reports whether a directory is already there.
func clearFor(dir int, name string, wantDir bool) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", name, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case isDir && wantDir:
		return true, nil
	case isDir:
		return false, fmt.Errorf("cannot replace directory %s with a file", name)
	}
	if err := unix.Unlinkat(dir, name, 0); err != nil {
		return false, fmt.Errorf("remove %s: %w", name, err)
	}
	return false, nil
}

// copyOpts say how sources become destination entries.
type copyOpts struct {
	own   *owner       // nil: root, or the source's owner with keepOwner
	chmod *os.FileMode // mode for every copied file and directory
	// keepOwner keeps the source's uid/gid (COPY --from, ADD archives).
	keepOwner bool
	// skip reports whether a source path (absolute) is left out.
	skip func(abs string, isDir bool) bool
}

func (o copyOpts) ownerOf(info os.FileInfo) (int, int) {
	if o.keepOwner {
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			return int(st.Uid), int(st.Gid)
		}
	}
	return 0, 0
}

func (o copyOpts) modeOf(info os.FileInfo) uint32 {
	if o.chmod != nil {
		return unixMode(*o.chmod)
	}
	return unixMode(info.Mode())
}

func unixMode(m os.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

// copyEntry copies the source src (file, symlink or directory, not
// followed) to dir/name.
func copyEntry(src string, info os.FileInfo, dir int, name string, o copyOpts) error {
	uid, gid := o.ownerOf(info)
	switch {
	case info.Mode().IsRegular():
		if _, err := clearFor(dir, name, false); err != nil {
			return err
		}
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		out := os.NewFile(uintptr(fd), name)
		_, err = io.Copy(out, in)
		if err == nil {
			err = chownAt(dir, name, o.own, uid, gid)
		}
		if err == nil {
			// After chown, which clears setuid bits.
			err = unix.Fchmod(fd, o.modeOf(info))
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
		return setMtime(dir, name, info)
	case info.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if _, err := clearFor(dir, name, false); err != nil {
			return err
		}
		if err := unix.Symlinkat(target, dir, name); err != nil {
			return fmt.Errorf("symlink %s: %w", name, err)
		}
		if err := chownAt(dir, name, o.own, uid, gid); err != nil {
			return err
		}
		return setMtime(dir, name, info)
	case info.IsDir():
		exists, err := clearFor(dir, name, true)
		if err != nil {
			return err
		}
		if !exists {
			if err := unix.Mkdirat(dir, name, 0o700); err != nil {
				return fmt.Errorf("mkdir %s: %w", name, err)
			}
		}
		sub, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		if !exists || o.own != nil || o.chmod != nil || o.keepOwner {
			err = chownAt(dir, name, o.own, uid, gid)
			if err == nil {
				// On the directory opened, never through a link.
				err = unix.Fchmod(sub, o.modeOf(info))
			}
			if err != nil {
				unix.Close(sub)
				return fmt.Errorf("chmod %s: %w", name, err)
			}
		}
		err = copyChildren(src, sub, o)
		unix.Close(sub)
		if err != nil {
			return err
		}
		return setMtime(dir, name, info)
	default:
		// Devices, fifos and sockets are not copied, as in Docker.
		return nil
	}
}

// copyChildren copies the entries of directory src into dir.
func copyChildren(src string, dir int, o copyOpts) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	sort.Slice(ents, func(a, b int) bool { return ents[a].Name() < ents[b].Name() })
	for _, de := range ents {
		p := filepath.Join(src, de.Name())
		if o.skip != nil && o.skip(p, de.IsDir()) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		if err := copyEntry(p, info, dir, de.Name(), o); err != nil {
			return err
		}
	}
	return nil
}

func setMtime(dir int, name string, info os.FileInfo) error {
	t := unix.NsecToTimespec(info.ModTime().UnixNano())
	if err := unix.UtimesNanoAt(dir, name, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime of %s: %w", name, err)
	}
	return nil
}

// resolveIn resolves rel (slash separated) under root, following symlinks.
// With scoped, absolute targets and ".." stop at root, as inside a
// container; otherwise a symlink leading out of root is an error.
func resolveIn(root, rel string, scoped bool) (string, error) {
	cur := root
	rest := strings.Split(strings.TrimPrefix(path.Clean("/"+rel), "/"), "/")
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur == root {
				if !scoped {
					return "", errEscape
				}
				continue
			}
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		info, err := os.Lstat(next)
		if err != nil || info.Mode()&os.ModeSymlink == 0 {
			// Missing components are left for the caller's stat to report.
			cur = next
			continue
		}
		links++
		if links > 255 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", rel)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			if !scoped {
				t := filepath.Clean(target)
				if t != root && !strings.HasPrefix(t, root+"/") {
					return "", errEscape
				}
				target = strings.TrimPrefix(t, root)
			}
			cur = root
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}

var errEscape = errors.New("escapes the root")
