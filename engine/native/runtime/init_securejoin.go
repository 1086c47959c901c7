package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/inroot"
)

// resolveInRoot resolves unsafe (a path inside the container) to a host
// path below root, following symlinks as if root were "/": absolute links
// restart at root and ".." never climbs above it. Missing components are
// appended lexically; the caller creates them. This is the securejoin
// algorithm; openInRoot re-checks the result after creating it.
func resolveInRoot(root, unsafe string) (string, error) {
	root = filepath.Clean(root)
	var resolved string // below root, always clean and starting with "/" or empty
	rest := unsafe
	links := 0
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(strings.TrimLeft(rest, "/"), "/")
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir("/" + resolved)
			if resolved == "/" {
				resolved = ""
			}
			continue
		}
		next := resolved + "/" + part
		fi, err := os.Lstat(root + next)
		if errors.Is(err, os.ErrNotExist) {
			resolved = next
			continue
		}
		if err != nil {
			return "", fmt.Errorf("resolve %q in rootfs: %w", unsafe, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		links++
		if links > 255 {
			return "", fmt.Errorf("resolve %q in rootfs: %w", unsafe, unix.ELOOP)
		}
		target, err := os.Readlink(root + next)
		if err != nil {
			return "", fmt.Errorf("resolve %q in rootfs: %w", unsafe, err)
		}
		if filepath.IsAbs(target) {
			resolved = ""
		}
		rest = target + "/" + rest
	}
	return root + resolved, nil
}

// openInRoot opens the already created path p with O_PATH|O_NOFOLLOW and
// checks through /proc/self/fd that it still lies below root, so the
// caller can mount onto "/proc/self/fd/N" without a window in which a
// swapped symlink could redirect the mount.
func openInRoot(root, p string) (*os.File, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open mount target %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("check mount target %s: %w", p, err)
	}
	root = filepath.Clean(root)
	if real != root && !strings.HasPrefix(real, root+"/") {
		f.Close()
		return nil, fmt.Errorf("mount target %s escapes the rootfs (now %s)", p, real)
	}
	return f, nil
}

// prepareTarget resolves target inside root (resolveInRoot: a dangling
// symlink leads to where its target would be), creates it as a directory
// or (when file is true) an empty file, with its missing parents, and
// opens it O_PATH, checked with openInRoot's rule. The resolved path is
// then walked with internal/inroot refusing any symlink: every directory
// is made by one name in a directory already open, so nothing is created
// through a symlink swapped in meanwhile (by another container sharing a
// volume mounted here); such a swap fails the mount instead.
func prepareTarget(root, target string, file bool) (*os.File, error) {
	p, err := resolveInRoot(root, target)
	if err != nil {
		return nil, err
	}
	root = filepath.Clean(root)
	rel := strings.TrimPrefix(p, root)
	r, err := inroot.Open(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if c := path.Clean("/" + rel); c != "/" {
		parent, err := r.MkdirAll(path.Dir(c), inroot.NoSymlinks, 0o755, nil)
		if err != nil {
			return nil, fmt.Errorf("create mount target %s: %w", target, err)
		}
		name := path.Base(c)
		if file {
			fd, err := unix.Openat(parent.FD(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err == nil {
				unix.Close(fd)
			} else if !errors.Is(err, unix.EEXIST) {
				parent.Close()
				return nil, fmt.Errorf("create mount target %s: %w", target, err)
			}
		} else if err := unix.Mkdirat(parent.FD(), name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			parent.Close()
			return nil, fmt.Errorf("create mount target %s: %w", target, err)
		}
		parent.Close()
	}
	t, err := r.OpenFile(rel, inroot.NoSymlinks, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("open mount target %s: %w", target, err)
	}
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", t.Fd()))
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("check mount target %s: %w", target, err)
	}
	if real != root && !strings.HasPrefix(real, root+"/") {
		t.Close()
		return nil, fmt.Errorf("mount target %s escapes the rootfs (now %s)", target, real)
	}
	return t, nil
}
