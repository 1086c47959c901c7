// Package roottar writes a tar stream of a file or a tree found inside a
// root, and extracts a tar stream into a directory inside a root, never
// following a symlink out of it: paths go through internal/inroot, and
// every entry is opened or created by its one name with O_NOFOLLOW. The
// streams are docker cp's: the top entry takes the name asked for, a
// directory comes before what it holds. hoist cp uses it on both sides: in
// a container's mount namespace (the native engine's copy helper) and on
// the host, where a container's files land.
package roottar

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/inroot"
)

// Stat describes a file without following it.
type Stat struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Mode is the st_mode: file type and permission bits.
	Mode  uint32    `json:"mode"`
	Mtime time.Time `json:"mtime"`
	// LinkTarget is a symlink's target as the link says it.
	LinkTarget string `json:"link_target,omitempty"`
}

// Lstat describes p in root (its directories resolved with how, p itself
// not followed).
func Lstat(root *inroot.Root, p string, how inroot.Resolve) (Stat, error) {
	dir, name, err := root.Parent(p, how)
	if err != nil {
		return Stat{}, err
	}
	defer dir.Close()
	var st unix.Stat_t
	if name == "" {
		if st, err = dir.Stat(); err != nil {
			return Stat{}, err
		}
		name = "/"
	} else if err := unix.Fstatat(dir.FD(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Stat{}, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	s := Stat{Name: name, Size: st.Size, Mode: st.Mode, Mtime: time.Unix(st.Mtim.Unix()).UTC()}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dir.FD(), name, buf)
		if err != nil {
			return Stat{}, &os.PathError{Op: "readlink", Path: p, Err: err}
		}
		s.LinkTarget = string(buf[:n])
	}
	return s, nil
}

// Write writes p in root (its directories resolved with how, p itself not
// followed) to w as a tar stream whose top entry is named name: a file, a
// symlink as a symlink, or a directory with all it holds, in which no
// symlink is followed either. Device nodes and fifos are written as such,
// never read; sockets are left out.
func Write(w io.Writer, root *inroot.Root, p string, how inroot.Resolve, name string) error {
	dir, base, err := root.Parent(p, how)
	if err != nil {
		return err
	}
	defer dir.Close()
	tw := tar.NewWriter(w)
	var top *inroot.Root
	var st unix.Stat_t
	if base == "" {
		// The root itself.
		if st, err = dir.Stat(); err != nil {
			return err
		}
		top = dir
	} else {
		if err := unix.Fstatat(dir.FD(), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if top, err = dir.OpenDir(base, inroot.NoSymlinks); err != nil {
				return err
			}
			defer top.Close()
		}
	}
	if err := writeEntry(tw, dir.FD(), base, name, &st); err != nil {
		return err
	}
	if top != nil {
		if fs, err := statfsFD(top.FD()); err != nil || kernelFS(fs.Type) {
			top = nil
		}
	}
	if top != nil {
		err := top.Walk(func(e *inroot.Entry) error {
			if err := writeEntry(tw, -1, "", path.Join(name, e.Path), &e.Stat, e); err != nil {
				return err
			}
			if e.IsDir() {
				if fs, err := e.Statfs(); err != nil || kernelFS(fs.Type) {
					return iofs.SkipDir
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeEntry writes one entry named name, described by st: the file base
// in dirfd, or e when given.
func writeEntry(tw *tar.Writer, dirfd int, base, name string, st *unix.Stat_t, e ...*inroot.Entry) error {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()).UTC(),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		var err error
		if len(e) > 0 {
			hdr.Linkname, err = e[0].Readlink()
		} else {
			hdr.Linkname, err = readlinkAt(dirfd, base)
		}
		if err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	var f *os.File
	var err error
	if len(e) > 0 {
		f, err = e[0].Open()
	} else {
		f, err = inroot.OpenRegularAt(dirfd, base, st)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	// The header promised Size bytes: a file that grew is cut there, one
	// that shrank fails the copy.
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s changed while copied: %w", name, err)
	}
	return nil
}

func statfsFD(fd int) (unix.Statfs_t, error) {
	var fs unix.Statfs_t
	err := unix.Fstatfs(fd, &fs)
	return fs, err
}

// kernelFS reports whether a file system is the kernel's view of itself
// (proc, sysfs, cgroups, ...), mounted in a running container: like
// docker cp, a copy has its mount point, not its files, which are not
// files (sizes that lie, links that mean the reader's process).
func kernelFS(magic int64) bool {
	const mqueueMagic = 0x19800202 // not in x/sys/unix
	switch uint32(magic) {
	case unix.PROC_SUPER_MAGIC, unix.SYSFS_MAGIC, unix.DEVPTS_SUPER_MAGIC, mqueueMagic,
		unix.CGROUP_SUPER_MAGIC, unix.CGROUP2_SUPER_MAGIC, unix.SECURITYFS_MAGIC, unix.DEBUGFS_MAGIC,
		unix.TRACEFS_MAGIC, unix.BPF_FS_MAGIC, unix.PSTOREFS_MAGIC, unix.EFIVARFS_MAGIC:
		return true
	}
	return false
}

func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", &os.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(buf[:n]), nil
}

// Owner is a numeric owner.
type Owner struct{ UID, GID int }

// ExtractOptions say how entries are written.
type ExtractOptions struct {
	// How resolves each entry's directory below the extraction
	// directory: inroot.InRoot inside a container (its links mean what
	// they mean there), inroot.NoSymlinks on the host.
	How inroot.Resolve
	// Owner, when set, owns every entry; otherwise entries keep the
	// archive's owners, unless NoChown.
	Owner   *Owner
	NoChown bool
	// Host: the entries come from a container and land on the host, so
	// setuid and setgid bits are dropped and device nodes are skipped
	// (neither would mean there what it meant in the container).
	Host bool
}

// Extract extracts the tar stream r into dir, a directory in root that
// must exist. An entry's name must stay below dir once cleaned; an entry
// does not replace a directory by a file or a file by a directory.
func Extract(r io.Reader, root *inroot.Root, dir string, opts ExtractOptions) error {
	d, err := root.OpenDir(dir, opts.How)
	if err != nil {
		return err
	}
	d.Close()
	x := &extractor{root: root, dir: dir, opts: opts}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
	}
	return x.finishDirs()
}

type extractor struct {
	root *inroot.Root
	dir  string
	opts ExtractOptions
	// dirs get their times last: what is created in them changes them.
	dirs []*tar.Header
}

// ErrOutside marks an entry whose name leads out of the extraction
// directory.
var ErrOutside = errors.New("archive entry leads outside the destination")

func cleanName(name string) (string, error) {
	c := path.Clean(strings.TrimLeft(name, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", ErrOutside
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		// "./": the extraction directory itself; docker cp leaves it be.
		return nil
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeChar, tar.TypeBlock:
		if x.opts.Host {
			return nil
		}
	}
	parent, err := x.root.MkdirAll(path.Join(x.dir, path.Dir(name)), x.opts.How, 0o755, nil)
	if err != nil {
		return err
	}
	defer parent.Close()
	pfd, base := parent.FD(), path.Base(name)
	var st unix.Stat_t
	switch err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case isDir && hdr.Typeflag == tar.TypeDir:
			x.dirs = append(x.dirs, hdr)
			return x.meta(pfd, base, hdr)
		case isDir:
			return fmt.Errorf("cannot overwrite directory %q with non-directory", name)
		case hdr.Typeflag == tar.TypeDir:
			return fmt.Errorf("cannot overwrite non-directory %q with directory", name)
		}
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return err
		}
	case !errors.Is(err, unix.ENOENT):
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return err
		}
		x.dirs = append(x.dirs, hdr)
		return x.meta(pfd, base, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, r)
		if err == nil {
			err = x.owner(hdr, f.Chown)
		}
		if err == nil {
			err = f.Chmod(os.FileMode(x.mode(hdr)&0o777) | modeBits(x.mode(hdr)))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// The file is ours (O_EXCL) and cut short (a full disk,
			// say): leave nothing half-written behind.
			unix.Unlinkat(pfd, base, 0)
			return err
		}
		return setTimes(pfd, base, hdr)
	case tar.TypeSymlink:
		// As the archive says: it is only ever followed by whoever
		// uses the files afterwards, never here.
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
		err := x.owner(hdr, func(uid, gid int) error {
			return unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		})
		if err != nil {
			return err
		}
		return setTimes(pfd, base, hdr)
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil || target == "" {
			return fmt.Errorf("hard link to %q: %w", hdr.Linkname, ErrOutside)
		}
		tdir, err := x.root.OpenDir(path.Join(x.dir, path.Dir(target)), x.opts.How)
		if err != nil {
			return err
		}
		// flags 0: a link to a symlink links the symlink itself.
		err = unix.Linkat(tdir.FD(), path.Base(target), pfd, base, 0)
		tdir.Close()
		return err
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		if err := unix.Mknodat(pfd, base, mode|0o600, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
		// Opening a fifo or a device to chmod it through a descriptor
		// could block or act on the device; an O_PATH descriptor of the
		// name made just now opens neither, and pins the node: the owner
		// and the mode are set on it, through /proc/self/fd, so a
		// symlink swapped in meanwhile (the destination may be a
		// directory a container writes) is never followed.
		fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != mode {
			return fmt.Errorf("%s was replaced while extracted", name)
		}
		err = x.owner(hdr, func(uid, gid int) error {
			return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
		})
		if err != nil {
			return err
		}
		if err := unix.Fchmodat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), x.mode(hdr), 0); err != nil {
			return err
		}
		return setTimes(pfd, base, hdr)
	}
	return nil
}

// mode is an entry's permission bits, without setuid and setgid on the
// host.
func (x *extractor) mode(hdr *tar.Header) uint32 {
	mode := uint32(hdr.Mode) & 0o7777
	if x.opts.Host {
		mode &^= unix.S_ISUID | unix.S_ISGID
	}
	return mode
}

// modeBits turns setuid, setgid and sticky bits into os.FileMode's.
func modeBits(m uint32) os.FileMode {
	var out os.FileMode
	if m&unix.S_ISUID != 0 {
		out |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		out |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		out |= os.ModeSticky
	}
	return out
}

// owner calls chown with the entry's owner, unless nothing is chowned.
func (x *extractor) owner(hdr *tar.Header, chown func(uid, gid int) error) error {
	if x.opts.NoChown {
		return nil
	}
	uid, gid := hdr.Uid, hdr.Gid
	if o := x.opts.Owner; o != nil {
		uid, gid = o.UID, o.GID
	}
	if err := chown(uid, gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

// meta sets a directory's owner, then its mode (chown clears setuid
// bits), on the directory opened without following a link; its times
// come last (finishDirs).
func (x *extractor) meta(dirfd int, base string, hdr *tar.Header) error {
	fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := x.owner(hdr, func(uid, gid int) error { return unix.Fchown(fd, uid, gid) }); err != nil {
		return err
	}
	return unix.Fchmod(fd, x.mode(hdr))
}

func setTimes(dirfd int, base string, hdr *tar.Header) error {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (x *extractor) finishDirs() error {
	for _, hdr := range x.dirs {
		name, _ := cleanName(hdr.Name)
		parent, base, err := x.root.Parent(path.Join(x.dir, name), x.opts.How)
		if err != nil {
			return err
		}
		err = setTimes(parent.FD(), base, hdr)
		parent.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
