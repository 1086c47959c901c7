package inroot

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// walkOpen is open without openat2. It resolves p one component at a
// time, each opened with O_NOFOLLOW (O_PATH) from the directory before
// it. It keeps the directories it came through, so that ".." goes back to
// the one it came from and never above the root, and it reads each
// symlink itself and resolves the target inside the root: an absolute
// target starts again at the root. Nothing here asks the kernel to
// follow a link, so a link swapped in meanwhile is met as a link.
func (r *Root) walkOpen(p string, how Resolve, flags int, perm uint32) (int, error) {
	if how&NoSymlinks != 0 && strings.HasPrefix(p, "/") {
		return -1, unix.EXDEV // RESOLVE_BENEATH's answer
	}
	var rootDev uint64
	if how&NoXDev != 0 {
		var st unix.Stat_t
		if err := unix.Fstat(r.fd, &st); err != nil {
			return -1, err
		}
		rootDev = st.Dev
	}
	sameDev := func(fd int) error {
		if how&NoXDev == 0 {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Dev != rootDev {
			return unix.EXDEV
		}
		return nil
	}
	stack := []int{r.fd}
	defer func() {
		for _, fd := range stack[1:] {
			unix.Close(fd)
		}
	}()
	top := func() int { return stack[len(stack)-1] }
	toRoot := func() {
		for _, fd := range stack[1:] {
			unix.Close(fd)
		}
		stack = stack[:1]
	}
	// O_CREAT|O_EXCL never follows the last component, as open(2).
	follow := flags&unix.O_NOFOLLOW == 0 && flags&(unix.O_CREAT|unix.O_EXCL) != unix.O_CREAT|unix.O_EXCL
	links := 0
	// link replaces the rest of the path with a symlink's target.
	link := func(target, rest string) (string, error) {
		if how&NoSymlinks != 0 {
			return "", unix.ELOOP
		}
		if links++; links > maxLinks {
			return "", unix.ELOOP
		}
		if target == "" {
			return "", unix.ENOENT
		}
		if strings.HasPrefix(target, "/") {
			toRoot()
		}
		if rest == "" {
			return target, nil
		}
		return target + "/" + rest, nil
	}
	rest := p
	for {
		var comp string
		comp, rest = nextComponent(rest)
		switch comp {
		case "":
			// The path ends at a directory already open.
			fd, err := unix.Openat(top(), ".", flags|unix.O_CLOEXEC, perm)
			if err != nil {
				return -1, err
			}
			if err := sameDev(fd); err != nil {
				unix.Close(fd)
				return -1, err
			}
			return fd, nil
		case "..":
			switch {
			case len(stack) > 1:
				unix.Close(top())
				stack = stack[:len(stack)-1]
			case how&NoSymlinks != 0:
				return -1, unix.EXDEV // RESOLVE_BENEATH's answer
			}
			continue
		}
		// A component followed by anything, even "/" or "/.", must be a
		// directory and is followed, as the kernel does.
		if rest != "" {
			fd, err := unix.Openat(top(), comp, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, err
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				unix.Close(fd)
				return -1, err
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				if err := sameDev(fd); err != nil {
					unix.Close(fd)
					return -1, err
				}
				stack = append(stack, fd)
			case unix.S_IFLNK:
				target, err := readlinkFD(fd)
				unix.Close(fd)
				if err != nil {
					return -1, err
				}
				if rest, err = link(target, rest); err != nil {
					return -1, err
				}
			default:
				unix.Close(fd)
				return -1, unix.ENOTDIR
			}
			continue
		}
		// The last component: a symlink is followed when flags want it,
		// by the same rules; the open itself never follows one.
		if follow {
			var st unix.Stat_t
			if err := unix.Fstatat(top(), comp, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				target, err := readlinkAt(top(), comp)
				if err != nil {
					return -1, err
				}
				if rest, err = link(target, ""); err != nil {
					return -1, err
				}
				continue
			}
		}
		fd, err := unix.Openat(top(), comp, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if err != nil {
			if follow && (errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)) && links < maxLinks {
				// It became a symlink after the check: look again.
				links++
				rest = comp
				continue
			}
			return -1, err
		}
		if follow && flags&unix.O_PATH != 0 {
			// O_PATH|O_NOFOLLOW opens a symlink itself.
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
				unix.Close(fd)
				if err != nil {
					return -1, err
				}
				if links++; links > maxLinks {
					return -1, unix.ELOOP
				}
				rest = comp
				continue
			}
		}
		if err := sameDev(fd); err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, nil
	}
}

// nextComponent returns the first component of p that is not empty or
// ".", and what follows it after one "/": "" when it is the last, "."
// when only a "/" follows (which asks for a directory).
func nextComponent(p string) (string, string) {
	for p != "" {
		c, rest, slash := strings.Cut(p, "/")
		if slash && rest == "" {
			rest = "."
		}
		if c != "" && c != "." {
			return c, rest
		}
		p = rest
		if c == "." && rest == "." {
			break
		}
	}
	return "", ""
}

// readlinkFD reads the symlink that fd (O_PATH|O_NOFOLLOW) is.
func readlinkFD(fd int) (string, error) { return readlinkAt(fd, "") }

func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax+1)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	if n > unix.PathMax {
		return "", unix.ENAMETOOLONG
	}
	return string(buf[:n]), nil
}
