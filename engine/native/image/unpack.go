package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/inroot"
	"github.com/hoist-dev/hoist/internal/userns"
)

// ErrUnsafe marks a layer entry that would escape the layer directory or
// write through a symlink. The whole layer is refused: a layer holding one
// is hostile or corrupt, and a partial rootfs is worse than none.
var ErrUnsafe = errors.New("unsafe layer entry")

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// SkipFunc is told about entries Unpack leaves out on purpose (device
// nodes, aufs metadata, xattrs it may not set). It may be nil.
type SkipFunc func(name, reason string)

// Unpack extracts the uncompressed layer tar r into dir, which must exist
// and should be empty. The result is an overlayfs lower dir: whiteouts
// become 0/0 character devices and opaque markers become the
// trusted.overlay.opaque xattr, as containerd's and Docker's overlay
// snapshotters store them.
//
// Safety rules, enforced without ever following a symlink:
//   - names must be relative and free of ".." (else ErrUnsafe);
//   - parents are resolved inside dir with RESOLVE_NO_SYMLINKS, so an
//     entry below a symlink (evil -> /, then evil/etc/x) is ErrUnsafe;
//   - an existing entry is removed before the new one is created with
//     O_EXCL|O_NOFOLLOW, so a file never overwrites a symlink's target;
//   - hardlink targets follow the name rules and must already be in dir;
//   - symlinks themselves are created verbatim, absolute or not: images
//     need them, and they are only ever followed inside the container;
//   - char and block devices are skipped (reported), except 0/0 char
//     devices, which are already overlay whiteouts; fifos are created;
//   - xattrs in the trusted.overlay. and user.overlay. namespaces are
//     refused, since they steer overlayfs lookups (redirects, metacopy).
//
// Unpack reads r to its end so a caller hashing the stream sees it all.
func Unpack(ctx context.Context, r io.Reader, dir string, skip SkipFunc) error {
	if skip == nil {
		skip = func(string, string) {}
	}
	root, err := inroot.Open(dir)
	if err != nil {
		return fmt.Errorf("open layer dir: %w", err)
	}
	defer root.Close()
	u := &unpacker{root: root, skip: skip, canChown: unix.Geteuid() == 0}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("unpack %q: %w", hdr.Name, err)
		}
	}
	if err := u.finishDirs(); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("drain layer tar: %w", err)
	}
	return nil
}

type unpacker struct {
	root     *inroot.Root
	skip     SkipFunc
	canChown bool
	// dirs get their mtimes last: creating children changes them.
	dirs []dirTime
}

type dirTime struct {
	name string
	ts   []unix.Timespec
}

// cleanName turns a tar name into a clean relative path, "" for the root.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute path", ErrUnsafe)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: path contains ..", ErrUnsafe)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "/"), nil
}

func (u *unpacker) entry(hdr *tar.Header, tr io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		// "./": metadata for the layer root itself.
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%w: root entry is not a directory", ErrUnsafe)
		}
		return u.dirMeta(u.root.FD(), ".", "", hdr)
	}
	dir, base := path.Split(name)
	pdir, err := u.resolveDir(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	defer pdir.Close()
	parent := pdir.FD()

	switch {
	case base == whiteoutOpaque:
		return setOpaque(parent)
	case strings.HasPrefix(base, whiteoutMeta):
		u.skip(hdr.Name, "aufs metadata")
		return nil
	case strings.HasPrefix(base, whiteoutPrefix):
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." {
			return fmt.Errorf("%w: bad whiteout", ErrUnsafe)
		}
		if err := inroot.RemoveAt(parent, target); err != nil {
			return err
		}
		return mkWhiteout(parent, target)
	}

	var st unix.Stat_t
	switch err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && hdr.Typeflag == tar.TypeDir {
			return u.dirMeta(parent, base, name, hdr)
		}
		if err := inroot.RemoveAt(parent, base); err != nil {
			return err
		}
	case !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("stat: %w", err)
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(parent, base, 0o700); err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
		return u.dirMeta(parent, base, name, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		return u.file(parent, base, hdr, tr)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, parent, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return u.pathMeta(parent, base, hdr, false)
	case tar.TypeLink:
		return u.hardlink(parent, base, hdr)
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0 {
			return mkWhiteout(parent, base)
		}
		u.skip(hdr.Name, "device node")
		return nil
	case tar.TypeFifo:
		if err := unix.Mknodat(parent, base, unix.S_IFIFO|0o600, 0); err != nil {
			return fmt.Errorf("mkfifo: %w", err)
		}
		return u.pathMeta(parent, base, hdr, true)
	case tar.TypeXGlobalHeader:
		return nil
	default:
		u.skip(hdr.Name, fmt.Sprintf("unsupported tar type %q", hdr.Typeflag))
		return nil
	}
}

// resolveDir opens dir (relative to the root), creating missing
// directories, and fails with ErrUnsafe if any component is a symlink,
// not a directory, or another mount.
func (u *unpacker) resolveDir(dir string) (*inroot.Root, error) {
	d, err := u.root.MkdirAll(dir, inroot.NoSymlinks|inroot.NoXDev, 0o755, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) {
			return nil, fmt.Errorf("%w: parent %q is a symlink or not a directory", ErrUnsafe, dir)
		}
		return nil, fmt.Errorf("open parent %q: %w", dir, err)
	}
	return d, nil
}

func (u *unpacker) file(parent int, base string, hdr *tar.Header, tr io.Reader) error {
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := fdFile(fd, base)
	defer f.Close()
	if _, err := io.Copy(f, tr); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := u.fdMeta(fd, hdr); err != nil {
		return err
	}
	return setTimes(parent, base, hdr)
}

func (u *unpacker) hardlink(parent int, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target: %w", err)
	}
	if target == "" {
		return fmt.Errorf("%w: hardlink to the root", ErrUnsafe)
	}
	tdir, tbase := path.Split(target)
	tparent, err := u.resolveDir(strings.TrimSuffix(tdir, "/"))
	if err != nil {
		return fmt.Errorf("hardlink target: %w", err)
	}
	defer tparent.Close()
	// flags 0: a symlink target is linked itself, never followed.
	if err := unix.Linkat(tparent.FD(), tbase, parent, base, 0); err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// dirMeta applies owner, mode and xattrs to a directory and queues its
// times; name is its path for the deferred pass ("" for the root).
func (u *unpacker) dirMeta(parent int, base, name string, hdr *tar.Header) error {
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	defer unix.Close(fd)
	if err := u.fdMeta(fd, hdr); err != nil {
		return err
	}
	u.dirs = append(u.dirs, dirTime{name: name, ts: timespecs(hdr)})
	return nil
}

// fdMeta sets owner, then mode (chown clears setuid bits), then xattrs
// (chown also clears security.capability).
func (u *unpacker) fdMeta(fd int, hdr *tar.Header) error {
	mode := tarMode(hdr)
	if u.canChown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			// In a user namespace (rootless) an owner outside its mapping
			// cannot be had (EINVAL): the file stays the namespace root's.
			if !errors.Is(err, unix.EINVAL) || !userns.Inside() {
				return fmt.Errorf("chown: %w", err)
			}
			u.skip(hdr.Name, fmt.Sprintf("owner %d:%d is outside the user namespace's mapping; left to root", hdr.Uid, hdr.Gid))
			mode = rootOwnedMode(mode, hdr)
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if strings.HasPrefix(attr, "trusted.overlay.") || strings.HasPrefix(attr, "user.overlay.") {
			u.skip(hdr.Name, "refused overlay xattr "+attr)
			continue
		}
		if err := unix.Fsetxattr(fd, attr, []byte(v), 0); err != nil {
			u.skip(hdr.Name, fmt.Sprintf("xattr %s: %v", attr, err))
		}
	}
	return nil
}

// pathMeta sets owner, mode and times on an entry that cannot be opened
// for writing (symlink, fifo) without following it.
func (u *unpacker) pathMeta(parent int, base string, hdr *tar.Header, chmod bool) error {
	mode := tarMode(hdr)
	if u.canChown {
		if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if !errors.Is(err, unix.EINVAL) || !userns.Inside() {
				return fmt.Errorf("chown: %w", err)
			}
			u.skip(hdr.Name, fmt.Sprintf("owner %d:%d is outside the user namespace's mapping; left to root", hdr.Uid, hdr.Gid))
			mode = rootOwnedMode(mode, hdr)
		}
	}
	if chmod {
		// Not a symlink (we just made it), so following is harmless.
		if err := unix.Fchmodat(parent, base, mode, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	return setTimes(parent, base, hdr)
}

func (u *unpacker) finishDirs() error {
	// Deepest first is not needed: setting a dir's times does not touch
	// its parent's.
	for _, d := range u.dirs {
		if d.name == "" {
			if err := unix.UtimesNanoAt(u.root.FD(), ".", d.ts, 0); err != nil {
				return fmt.Errorf("set root times: %w", err)
			}
			continue
		}
		dir, base := path.Split(d.name)
		parent, err := u.resolveDir(strings.TrimSuffix(dir, "/"))
		if err != nil {
			return fmt.Errorf("set times %q: %w", d.name, err)
		}
		err = unix.UtimesNanoAt(parent.FD(), base, d.ts, unix.AT_SYMLINK_NOFOLLOW)
		parent.Close()
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("set times %q: %w", d.name, err)
		}
	}
	return nil
}

// rootOwnedMode is mode for a file left to root because its owner could
// not be had: a setuid (setgid) bit meant for another user (group) would
// make it run as root, so it goes.
func rootOwnedMode(mode uint32, hdr *tar.Header) uint32 {
	if hdr.Uid != 0 {
		mode &^= unix.S_ISUID
	}
	if hdr.Gid != 0 {
		mode &^= unix.S_ISGID
	}
	return mode
}

func tarMode(hdr *tar.Header) uint32 {
	// Mode bits only; the tar's type flag decides the file type.
	return uint32(hdr.Mode) & 0o7777
}

func timespecs(hdr *tar.Header) []unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
}

func setTimes(parent int, base string, hdr *tar.Header) error {
	if err := unix.UtimesNanoAt(parent, base, timespecs(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func mkWhiteout(parent int, name string) error {
	if err := unix.Mknodat(parent, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %q: %w", name, err)
	}
	return nil
}

func setOpaque(parent int) error {
	// O_PATH fds cannot carry xattrs; reopen "." for real.
	fd, err := unix.Openat(parent, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open opaque dir: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, userns.Opaque(), []byte("y"), 0); err != nil {
		return fmt.Errorf("mark opaque: %w", err)
	}
	return nil
}

func fdFile(fd int, name string) *os.File { return os.NewFile(uintptr(fd), name) }
