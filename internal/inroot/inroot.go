// Package inroot is how hoist reaches paths inside a directory that is the
// root of someone else's file system (a container's root, an image layer,
// a container's writable layer, a volume filled from an image) from a
// process that is not confined to it. Whoever runs in that root decides
// what its symlinks say, so no path given to this package may reach
// anything outside the root, whatever the root holds and however it
// changes meanwhile.
//
// Paths are cleaned lexically first (as Docker does with its paths), then
// resolved by the kernel with openat2: RESOLVE_IN_ROOT (InRoot) follows
// symlinks as a process whose "/" is the root would see them, an absolute
// link restarting at the root and ".." stopping there;
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (NoSymlinks) refuses any symlink on
// the way, for paths below a target that must hold no link at all. Magic
// links (/proc/self/root and the like) are never followed. Where openat2
// is missing (ENOSYS: kernels before 5.6, or a seccomp filter that hides
// it) the same rules are kept by a walk of one component at a time, each
// opened with O_NOFOLLOW from the directory before it, the symlinks read
// and resolved by this package inside the root (walk.go).
//
// Everything else works on a directory this package opened and a single
// name in it (never a path), with O_NOFOLLOW or AT_SYMLINK_NOFOLLOW.
package inroot

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Resolve says how symlinks met on a path are treated.
type Resolve uint8

const (
	// InRoot follows symlinks as seen from inside the root: an absolute
	// link restarts at the root and ".." never climbs above it.
	InRoot Resolve = 0
	// NoSymlinks refuses every symlink on the way with ELOOP (a final
	// one too, unless the open asks for O_PATH|O_NOFOLLOW) and any ".."
	// that would leave the root with EXDEV.
	NoSymlinks Resolve = 1 << iota
	// NoXDev refuses to cross a mount point with EXDEV.
	NoXDev
)

// maxLinks bounds the symlinks one resolution may follow, as the kernel's
// MAXSYMLINKS does.
const maxLinks = 40

// Root is an open directory that paths are resolved beneath. It is not
// safe for concurrent Close.
type Root struct {
	fd int
	// walk resolves by the component walk even where openat2 exists; a
	// Root made by a test sets it to prove the fallback.
	walk bool
}

// Open opens dir, a host path that hoist owns (it is resolved as the host
// sees it), as a Root.
func Open(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open root", Path: dir, Err: err}
	}
	return &Root{fd: fd}, nil
}

// Close releases the root's descriptor.
func (r *Root) Close() error {
	if r == nil || r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// FD is the root directory's descriptor (O_PATH): for *at calls on a
// single name in it, never on a path.
func (r *Root) FD() int { return r.fd }

// Stat describes the root directory itself.
func (r *Root) Stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstat(r.fd, &st)
	return st, err
}

// clean makes p relative to the root: "" and "/" are the root itself.
func clean(p string) string {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" {
		return "."
	}
	return c
}

// open resolves p (already clean) beneath the root with how and opens it
// with flags; perm is used only with O_CREAT.
func (r *Root) open(p string, how Resolve, flags int, perm uint32) (int, error) {
	if !r.walk {
		oh := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_NO_MAGICLINKS}
		if flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
			oh.Mode = uint64(perm)
		}
		if how&NoSymlinks != 0 {
			oh.Resolve |= unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS
		} else {
			oh.Resolve |= unix.RESOLVE_IN_ROOT
		}
		if how&NoXDev != 0 {
			oh.Resolve |= unix.RESOLVE_NO_XDEV
		}
		// EAGAIN: a rename or mount raced a ".."; retry, then let the
		// walk (which has no such check to fail) do it.
		for range 8 {
			fd, err := unix.Openat2(r.fd, p, &oh)
			if err == nil || (!errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR)) {
				if !errors.Is(err, unix.ENOSYS) {
					return fd, err
				}
				break
			}
		}
	}
	return r.walkOpen(p, how, flags, perm)
}

// OpenDir opens directory p (O_PATH) as a Root of its own: paths resolved
// in it stay beneath it.
func (r *Root) OpenDir(p string, how Resolve) (*Root, error) {
	fd, err := r.open(clean(p), how, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return &Root{fd: fd, walk: r.walk}, nil
}

// OpenFile opens p with flags (O_CLOEXEC is added). With O_CREAT a final
// symlink is followed inside the root unless flags has O_NOFOLLOW or
// O_EXCL, as open(2) does.
func (r *Root) OpenFile(p string, how Resolve, flags int, perm uint32) (*os.File, error) {
	fd, err := r.open(clean(p), how, flags, perm)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// Parent opens the directory p is in (following what how allows) and
// returns it with p's last name; the name is "" when p is the root.
func (r *Root) Parent(p string, how Resolve) (*Root, string, error) {
	c := clean(p)
	if c == "." {
		d, err := r.OpenDir(".", how)
		return d, "", err
	}
	d, err := r.OpenDir(path.Dir(c), how)
	if err != nil {
		return nil, "", err
	}
	return d, path.Base(c), nil
}

// Lstat describes p without following its last component.
func (r *Root) Lstat(p string, how Resolve) (unix.Stat_t, error) {
	var st unix.Stat_t
	d, name, err := r.Parent(p, how)
	if err != nil {
		return st, err
	}
	defer d.Close()
	if name == "" {
		return d.Stat()
	}
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	return st, nil
}

// MkdirAll opens directory p, creating it and its missing parents first
// (mode perm, less the umask). made, when not nil, is called for each
// directory it creates, with the new directory's parent and name and its
// clean path below the root, to set its owner or mode; an error from made
// stops it.
func (r *Root) MkdirAll(p string, how Resolve, perm uint32, made func(dirfd int, name, p string) error) (*Root, error) {
	c := clean(p)
	d, err := r.OpenDir(c, how)
	if err == nil || c == "." || !errors.Is(err, unix.ENOENT) {
		return d, err
	}
	parent, err := r.MkdirAll(path.Dir(c), how, perm, made)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	name := path.Base(c)
	err = unix.Mkdirat(parent.fd, name, perm)
	switch {
	case err == nil:
		if made != nil {
			if err := made(parent.fd, name, c); err != nil {
				return nil, err
			}
		}
	case !errors.Is(err, unix.EEXIST):
		return nil, &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	// Resolve the whole path again: a name that existed may be a symlink,
	// to be followed (or refused) from the root, not from parent. As
	// mkdir -p, it does not create what a dangling one points at.
	d, err = r.OpenDir(c, how)
	if errors.Is(err, unix.ENOENT) {
		return nil, &os.PathError{Op: "mkdir", Path: p, Err: fmt.Errorf("%s is a symlink to nothing: %w", name, unix.ENOENT)}
	}
	return d, err
}

// RemoveAll removes p, a directory with all it holds, without following
// its last component or anything below it; a missing p is not an error.
// The root itself cannot be removed.
func (r *Root) RemoveAll(p string, how Resolve) error {
	d, name, err := r.Parent(p, how)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if name == "" {
		return &os.PathError{Op: "remove", Path: p, Err: unix.EBUSY}
	}
	return RemoveAt(d.fd, name)
}

// checkName refuses a name that is not one component.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("%q is not a single name: %w", name, unix.EINVAL)
	}
	return nil
}

// RemoveAt removes name in directory dirfd, recursing into a directory
// without following any symlink: a symlink is removed itself. A missing
// name is not an error.
func RemoveAt(dirfd int, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	fd, oerr := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if oerr != nil {
		if errors.Is(oerr, unix.ENOTDIR) || errors.Is(oerr, unix.ELOOP) {
			// Not a directory after all: EPERM was the answer.
			return &os.PathError{Op: "remove", Path: name, Err: err}
		}
		return &os.PathError{Op: "open for removal", Path: name, Err: oerr}
	}
	d := os.NewFile(uintptr(fd), name)
	names, err := d.Readdirnames(-1)
	if err != nil {
		d.Close()
		return &os.PathError{Op: "list", Path: name, Err: err}
	}
	for _, n := range names {
		if err := RemoveAt(fd, n); err != nil {
			d.Close()
			return err
		}
	}
	d.Close()
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil {
		return &os.PathError{Op: "remove dir", Path: name, Err: err}
	}
	return nil
}
