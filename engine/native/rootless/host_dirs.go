package rootless

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Dirs are a user's rootless store and run state.
type Dirs struct {
	// Root is the store: $HOIST_ROOT, else $XDG_DATA_HOME/hoist, else
	// ~/.local/share/hoist.
	Root string
	// RunDir is the run state: $HOIST_RUN_DIR, else
	// $XDG_RUNTIME_DIR/hoist, else /tmp/hoist-<uid> (mode 0700, the
	// user's, or refused: another user could have made it first).
	RunDir string
}

// DirsFor resolves the dirs from getenv for the user uid; it makes the
// run dir.
func DirsFor(getenv func(string) string, uid int) (Dirs, error) {
	d, err := resolveDirs(getenv, uid)
	if err != nil {
		return Dirs{}, err
	}
	if err := ownDir(d.RunDir, uid); err != nil {
		return Dirs{}, err
	}
	if err := os.MkdirAll(d.Root, 0o700); err != nil {
		return Dirs{}, fmt.Errorf("rootless store: %w", err)
	}
	if err := privateStore(d.Root, uid); err != nil {
		return Dirs{}, err
	}
	return d, nil
}

// ExistingDirs resolves the dirs as DirsFor does, for a reader of them
// that changes nothing (run --rm's fast path, before main: it runs for
// any command line with a "run" word in it, of the docker engine too):
// they must be there already and pass DirsFor's checks as they are, a
// run dir its owner's alone in a parent no other user may rename in, a
// store of the user's closed to others, or it is an error.
func ExistingDirs(getenv func(string) string, uid int) (Dirs, error) {
	d, err := resolveDirs(getenv, uid)
	if err != nil {
		return Dirs{}, err
	}
	if err := safeParent(d.RunDir, uid); err != nil {
		return Dirs{}, err
	}
	for _, dir := range []string{d.RunDir, d.Root} {
		fi, err := os.Lstat(dir)
		if err != nil {
			return Dirs{}, err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || !ok || int(st.Uid) != uid || fi.Mode().Perm()&0o077 != 0 {
			return Dirs{}, fmt.Errorf("rootless: %s is not a private directory of uid %d", dir, uid)
		}
	}
	return d, nil
}

// resolveDirs is the dirs' paths from getenv, made absolute.
func resolveDirs(getenv func(string) string, uid int) (Dirs, error) {
	var d Dirs
	switch {
	case getenv("HOIST_ROOT") != "":
		d.Root = getenv("HOIST_ROOT")
	case getenv("XDG_DATA_HOME") != "":
		d.Root = filepath.Join(getenv("XDG_DATA_HOME"), "hoist")
	case getenv("HOME") != "":
		d.Root = filepath.Join(getenv("HOME"), ".local", "share", "hoist")
	default:
		return Dirs{}, fmt.Errorf("rootless store: set HOME, XDG_DATA_HOME or HOIST_ROOT")
	}
	switch {
	case getenv("HOIST_RUN_DIR") != "":
		d.RunDir = getenv("HOIST_RUN_DIR")
	case getenv("XDG_RUNTIME_DIR") != "":
		d.RunDir = filepath.Join(getenv("XDG_RUNTIME_DIR"), "hoist")
	default:
		d.RunDir = filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(uid))
	}
	var err error
	if d.Root, err = filepath.Abs(d.Root); err != nil {
		return Dirs{}, err
	}
	if d.RunDir, err = filepath.Abs(d.RunDir); err != nil {
		return Dirs{}, err
	}
	return d, nil
}

// privateStore makes the store, which may have been there before (made
// by hand with the usual umask), the user's alone: its volumes hold what
// containers wrote, setuid files of the user's among them, and its
// layers the images' files, all of which only its 0700 keeps from other
// users.
func privateStore(root string, uid int) error {
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("rootless store: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != uid {
		return fmt.Errorf("rootless store %s is not a directory of uid %d: set HOIST_ROOT or XDG_DATA_HOME to one", root, uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(root, 0o700); err != nil {
			return fmt.Errorf("rootless store: %w", err)
		}
	}
	return nil
}

// ownDir makes dir 0700, or checks that the one there is uid's and
// nobody else's to enter: in /tmp anyone could have made it first.
func ownDir(dir string, uid int) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("rootless run dir: %w", err)
	}
	if err := safeParent(dir, uid); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return fmt.Errorf("rootless run dir: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("rootless run dir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != uid {
		return fmt.Errorf("rootless run dir %s is not a directory of uid %d: remove it, or set XDG_RUNTIME_DIR or HOIST_RUN_DIR", dir, uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("rootless run dir: %w", err)
		}
	}
	return nil
}

// safeParent checks dir's parent: whoever may rename in it could swap
// dir, checked afterwards, for a link to one of theirs. It must be the
// user's, or root's and closed to others or sticky (as /tmp is).
func safeParent(dir string, uid int) error {
	pfi, err := os.Stat(filepath.Dir(dir))
	if err != nil {
		return fmt.Errorf("rootless run dir: %w", err)
	}
	pst, ok := pfi.Sys().(*syscall.Stat_t)
	if !ok || !(int(pst.Uid) == uid || pst.Uid == 0 && (pfi.Mode()&os.ModeSticky != 0 || pfi.Mode().Perm()&0o022 == 0)) {
		return fmt.Errorf("rootless run dir %s: its parent may be changed by another user (uid %d, %v): set XDG_RUNTIME_DIR or HOIST_RUN_DIR to a directory of yours", dir, pst.Uid, pfi.Mode())
	}
	return nil
}
