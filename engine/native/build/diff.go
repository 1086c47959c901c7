package build

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/userns"
)

// writeDiff writes the overlayfs upper dir of a step as a layer tar:
// overlay whiteouts (0/0 character devices) become .wh.<name> entries and
// opaque directories get a .wh..wh..opq entry, as the OCI layer format
// says. Modes, owners, mtimes, hard links and file capabilities are kept.
func writeDiff(w io.Writer, upper string) error {
	tw := tar.NewWriter(w)
	type inode struct{ dev, ino uint64 }
	links := map[inode]string{}
	err := filepath.WalkDir(upper, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := de.Info()
		if err != nil {
			return err
		}
		st, _ := info.Sys().(*syscall.Stat_t)
		if info.Mode()&os.ModeCharDevice != 0 && st != nil && st.Rdev == 0 {
			return tw.WriteHeader(&tar.Header{
				Name:     path.Join(path.Dir(rel), ".wh."+path.Base(rel)),
				Typeflag: tar.TypeReg,
				Mode:     0o600,
				ModTime:  info.ModTime(),
			})
		}
		var target string
		if info.Mode()&os.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, target)
		if err != nil {
			return err
		}
		hdr.Name = rel
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if st != nil {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		}
		if info.IsDir() {
			hdr.Name += "/"
		}
		if info.Mode().IsRegular() && st != nil && st.Nlink > 1 {
			id := inode{st.Dev, st.Ino}
			if first, ok := links[id]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[id] = rel
			}
		}
		if caps := getXattr(p, "security.capability"); caps != nil {
			hdr.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(caps)}
			hdr.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, hdr.Size)
			f.Close()
			if err != nil {
				return err
			}
		}
		if info.IsDir() && string(getXattr(p, userns.Opaque())) == "y" {
			return tw.WriteHeader(&tar.Header{
				Name:     rel + "/.wh..wh..opq",
				Typeflag: tar.TypeReg,
				Mode:     0o600,
				ModTime:  info.ModTime(),
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func getXattr(p, name string) []byte {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil || n == 0 {
			return nil
		}
		return buf[:n]
	}
}
