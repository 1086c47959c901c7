package initexe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// CacheDir holds immutable copies of embedded init binaries, one per
// content digest. Host-wide like Docker's runc binary: the copy is made
// once for every hoist process and container to execute.
const CacheDir = "/var/lib/hoist/init"

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h (chattr +i).
const fsImmutableFL = 0x10

// Why a file and not the sealed memfd (memfd.go) every time: filling the
// memfd costs each hoist process 1-4 ms (2.4 MB copied, the source faulted
// in from the executable), a tenth of a `run --rm`. What the memfd is for
// (CVE-2019-5736: a container process opening /proc/<pid>/exe of a
// process running the init and writing through it) an immutable file
// gives too: no one can open it for writing, root included, without
// CAP_LINUX_IMMUTABLE, which Docker's default set leaves out. Containers
// that have that capability (privileged, or cap_add) still get a memfd
// (Executable's private).

// cachedFile is b's immutable copy in CacheDir, made (once per host) and
// opened once per process; nil when it cannot be used.
func (b *Binary) cachedFile() *os.File {
	b.cached.Lock()
	defer b.cached.Unlock()
	if !b.cached.tried {
		b.cached.tried = true
		if b.Open != nil && b.Digest != "" {
			b.cached.f, _ = openInitCache(CacheDir, b.Digest, b.Open)
		}
	}
	return b.cached.f
}

// openInitCache opens dir/hoist-init-<digest>, creating it from image
// when missing, and returns it only once it is immutable.
func openInitCache(dir, digest string, image func() (io.ReadCloser, error)) (*os.File, error) {
	path := filepath.Join(dir, "hoist-init-"+digest)
	if f, err := openImmutable(path); err == nil {
		return f, nil
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		if err := createInitCopy(dir, path, image); err != nil {
			return nil, err
		}
		removeOtherInits(dir, path)
	}
	// Made immutable in place, after the link (an immutable file cannot be
	// linked); until then openImmutable refuses it, so nothing runs it.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	err = setImmutable(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	return openImmutable(path)
}

// createInitCopy writes image to path through a temporary file linked
// into place: link(2) never replaces, so a concurrent hoist that got there
// first wins, with the same content.
func createInitCopy(dir, path string, image func() (io.ReadCloser, error)) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	src, err := image()
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".hoist-init-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, src)
	if err == nil {
		err = tmp.Chmod(0o500)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// openImmutable opens path for execution if it is a root-owned regular
// file that is immutable.
func openImmutable(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	flags, ferr := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || ferr != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || flags&fsImmutableFL == 0 {
		f.Close()
		return nil, fmt.Errorf("init cache %s is not a root-owned immutable file", path)
	}
	return f, nil
}

func setImmutable(f *os.File) error {
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return fmt.Errorf("init cache: file flags: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsImmutableFL)); err != nil {
		return fmt.Errorf("init cache: make immutable: %w", err)
	}
	return nil
}

func clearImmutable(path string) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS); err == nil && flags&fsImmutableFL != 0 {
		_ = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags&^fsImmutableFL))
	}
}

// removeOtherInits drops the copies of other hoist builds that no process
// runs or holds open: removing one means clearing its immutable flag, which
// must never happen under a container still running from it. This runs
// once per new build, so scanning /proc is affordable.
func removeOtherInits(dir, keep string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var others []string
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if p != keep && strings.HasPrefix(e.Name(), "hoist-init-") {
			others = append(others, p)
		}
	}
	if len(others) == 0 {
		return
	}
	used := filesInUse()
	for _, p := range others {
		if used[p] {
			continue
		}
		clearImmutable(p)
		_ = os.Remove(p)
	}
}

// filesInUse is the set of paths that some process executes or has open,
// as /proc shows them.
func filesInUse() map[string]bool {
	used := map[string]bool{}
	procs, _ := os.ReadDir("/proc")
	for _, pe := range procs {
		if pe.Name()[0] < '0' || pe.Name()[0] > '9' {
			continue
		}
		base := filepath.Join("/proc", pe.Name())
		if l, err := os.Readlink(filepath.Join(base, "exe")); err == nil {
			used[strings.TrimSuffix(l, " (deleted)")] = true
		}
		fds, _ := os.ReadDir(filepath.Join(base, "fd"))
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(base, "fd", fd.Name())); err == nil {
				used[strings.TrimSuffix(l, " (deleted)")] = true
			}
		}
	}
	return used
}
