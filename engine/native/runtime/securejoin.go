package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
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

// prepareTarget resolves target inside root, creates it as a directory or
// (when file is true) an empty file, and opens it with openInRoot.
func prepareTarget(root, target string, file bool) (*os.File, error) {
	p, err := resolveInRoot(root, target)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		if err := mkdirAllInRoot(root, filepath.Dir(p)); err != nil {
			return nil, err
		}
		if file {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW, 0o644)
			if err != nil {
				return nil, fmt.Errorf("create mount target %s: %w", target, err)
			}
			f.Close()
		} else if err := os.Mkdir(p, 0o755); err != nil {
			return nil, fmt.Errorf("create mount target %s: %w", target, err)
		}
	}
	return openInRoot(root, p)
}

// mkdirAllInRoot creates dir (already resolved below root) one component
// at a time, refusing to follow a symlink that appeared meanwhile.
func mkdirAllInRoot(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("directory %s is outside the rootfs", dir)
	}
	cur := root
	for _, part := range strings.Split(rel, "/") {
		if part == "." || part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("create %s: %w", cur, err)
			}
		case err != nil:
			return fmt.Errorf("create %s: %w", cur, err)
		case !fi.IsDir():
			return fmt.Errorf("create %s: not a directory", cur)
		}
	}
	return nil
}
