package inroot

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"

	"golang.org/x/sys/unix"
)

// Entry is one file met by Walk, described without following it.
type Entry struct {
	// Path is the entry's slash-separated path below the walked
	// directory; Name is its last component.
	Path, Name string
	Stat       unix.Stat_t
	dir        int // the parent, open only during the callback
}

// Type is the entry's unix.S_IFMT bits.
func (e *Entry) Type() uint32 { return e.Stat.Mode & unix.S_IFMT }

// IsDir reports whether the entry is a directory (a symlink is not).
func (e *Entry) IsDir() bool { return e.Type() == unix.S_IFDIR }

// Readlink reads the entry's target when it is a symlink.
func (e *Entry) Readlink() (string, error) {
	t, err := readlinkAt(e.dir, e.Name)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: e.Path, Err: err}
	}
	return t, nil
}

// Statfs describes the file system of the entry (a directory: of what
// is mounted there, if anything), never following a symlink.
func (e *Entry) Statfs() (unix.Statfs_t, error) {
	var fs unix.Statfs_t
	fd, err := unix.Openat(e.dir, e.Name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fs, &os.PathError{Op: "open", Path: e.Path, Err: err}
	}
	defer unix.Close(fd)
	err = unix.Fstatfs(fd, &fs)
	return fs, err
}

// Open opens the entry for reading when it is (still) the regular file
// Walk saw: never a symlink, and never a fifo or device put in its place,
// which could block or read what is not a file.
func (e *Entry) Open() (*os.File, error) {
	return OpenRegularAt(e.dir, e.Name, &e.Stat)
}

// OpenRegularAt opens name in dirfd for reading when it is a regular file
// (and, when want is not nil, the same inode as want), without following
// a symlink and without blocking on a fifo swapped in.
func OpenRegularAt(dirfd int, name string, want *unix.Stat_t) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || (want != nil && (st.Dev != want.Dev || st.Ino != want.Ino)) {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: name, Err: errors.New("not the regular file it was a moment ago")}
	}
	// Blocking reads again, so the runtime's poller is not involved.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Names lists the root directory's entries, sorted.
func (r *Root) Names() ([]string, error) {
	return namesAt(r.fd, ".")
}

func namesAt(dirfd int, name string) ([]string, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, &os.PathError{Op: "list", Path: name, Err: err}
	}
	slices.Sort(names)
	return names, nil
}

// Walk calls fn for every entry below the root directory, a directory
// before what it holds, names in order, without following any symlink:
// each directory is entered by O_NOFOLLOW from its parent and must be the
// one fn was shown. fn returning fs.SkipDir skips the entry (for a
// directory, what it holds).
func (r *Root) Walk(fn func(e *Entry) error) error {
	return walkTree(r.fd, "", fn)
}

func walkTree(dirfd int, rel string, fn func(e *Entry) error) error {
	names, err := namesAt(dirfd, ".")
	if err != nil {
		return err
	}
	for _, name := range names {
		e := Entry{Path: path.Join(rel, name), Name: name, dir: dirfd}
		if err := unix.Fstatat(dirfd, name, &e.Stat, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // gone meanwhile
			}
			return &os.PathError{Op: "lstat", Path: e.Path, Err: err}
		}
		err := fn(&e)
		if errors.Is(err, fs.SkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if !e.IsDir() {
			continue
		}
		sub, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: e.Path, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(sub, &st); err != nil || st.Dev != e.Stat.Dev || st.Ino != e.Stat.Ino {
			unix.Close(sub)
			return &os.PathError{Op: "open", Path: e.Path, Err: errors.New("replaced while walking")}
		}
		err = walkTree(sub, e.Path, fn)
		unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}
