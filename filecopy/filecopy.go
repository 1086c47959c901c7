// Package filecopy is hoist cp: docker cp's rules for copying files and
// directories between the host and a service's containers, applied over
// an engine's archive calls (engine.Copier), so both engines follow the
// same rules.
//
// The rules, for a source SRC and a destination DST:
//   - SRC a file: a missing DST is created as that file (its parent must
//     exist; a DST ending in "/" must be an existing directory); an
//     existing file DST is overwritten; into an existing directory DST the
//     file goes under its own name.
//   - SRC a directory: a missing DST is created as a directory with SRC's
//     contents; an existing directory DST gets SRC inside it, or with
//     SRC ending in "/." SRC's contents; a file DST is an error.
//   - "-" as SRC is a tar stream read from stdin, extracted into DST (a
//     directory); "-" as DST is a tar stream of SRC written to stdout.
//   - A symlink as SRC is copied as a symlink unless FollowLink; one as
//     DST is followed (inside the container, for a container's DST).
//
// Files a container's copy brings to the host belong to the user running
// hoist, lose setuid and setgid bits, and no device node is made; they are
// written below DST without following any symlink (internal/roottar).
package filecopy

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/internal/inroot"
	"github.com/hoist-dev/hoist/internal/roottar"
)

// Options are cp's flags that change what is copied.
type Options struct {
	// FollowLink copies what a symlink given as the source leads to.
	FollowLink bool
	// CopyUIDGID gives files copied into a container the container's
	// user (docker cp -a).
	CopyUIDGID bool
}

// Errors of the copy rules.
var (
	ErrCannotCopyDir = errors.New("cannot copy a directory to a file")
	ErrDirNotExists  = errors.New("destination directory must exist")
	ErrNotDirectory  = errors.New("not a directory")
)

// maxLinks bounds the symlinks followed for a destination, as docker cp.
const maxLinks = 10

// SplitArg splits "SERVICE:PATH" into its service and path; a local path
// (absolute, starting with ".", or without ":") has no service.
func SplitArg(arg string) (service, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	svc, rest, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(svc, ".") {
		return "", arg
	}
	return svc, rest
}

// assertsDir reports whether p names a directory by its form: a trailing
// "/" or a last component ".".
func assertsDir(p string) bool {
	return strings.HasSuffix(p, "/") || p == "." || strings.HasSuffix(p, "/.")
}

// containerPath is p as an absolute, clean path in the container ("tmp/x"
// is "/tmp/x", as in docker cp).
func containerPath(p string) string { return path.Clean("/" + p) }

// localPath is p absolute and clean.
func localPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.Clean(abs), nil
}

// dstInfo is what a destination is.
type dstInfo struct {
	path          string // clean, links followed
	exists, isDir bool
}

// containerDst stats dst in the container, following symlinks (inside the
// container: the engine resolves every path there).
func containerDst(ctx context.Context, c engine.Copier, id, dst string) (dstInfo, error) {
	info := dstInfo{path: containerPath(dst)}
	st, err := c.StatPath(ctx, id, info.path)
	for n := 0; err == nil && st.Mode&os.ModeSymlink != 0; n++ {
		if n >= maxLinks {
			return info, fmt.Errorf("too many symlinks in %s", dst)
		}
		t := st.LinkTarget
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(info.path), t)
		}
		info.path = path.Clean(t)
		st, err = c.StatPath(ctx, id, info.path)
	}
	if err != nil {
		// Missing: it may still be created in its parent, which the
		// extraction finds or reports missing.
		return info, nil
	}
	if !st.Mode.IsDir() && !st.Mode.IsRegular() {
		return info, fmt.Errorf("destination %q must be a directory or a regular file", dst)
	}
	info.exists, info.isDir = true, st.Mode.IsDir()
	return info, nil
}

// localDst stats the host path dst, following its symlinks (they are the
// user's own); a missing dst needs an existing parent directory.
func localDst(dst string) (dstInfo, error) {
	p, err := localPath(dst)
	if err != nil {
		return dstInfo{}, err
	}
	info := dstInfo{path: p}
	fi, err := os.Lstat(p)
	for n := 0; err == nil && fi.Mode()&os.ModeSymlink != 0; n++ {
		if n >= maxLinks {
			return info, fmt.Errorf("too many symlinks in %s", dst)
		}
		t, err := os.Readlink(info.path)
		if err != nil {
			return info, err
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(info.path), t)
		}
		info.path = filepath.Clean(t)
		fi, err = os.Lstat(info.path)
	}
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return info, err
		}
		parent, err := os.Stat(filepath.Dir(info.path))
		if err != nil {
			return info, err
		}
		if !parent.IsDir() {
			return info, fmt.Errorf("%s: %w", filepath.Dir(info.path), ErrNotDirectory)
		}
		return info, nil
	}
	info.exists, info.isDir = true, fi.IsDir()
	if !info.isDir && assertsDir(dst) {
		return info, fmt.Errorf("%s: %w", dst, ErrNotDirectory)
	}
	return info, nil
}

// placement is where an archive of the source is extracted (dir) and the
// name its top entry takes there ("." for the source's contents).
func placement(dst dstInfo, dstArg string, srcIsDir, contents bool, srcName string, dirOf, base func(string) string) (dir, top string, err error) {
	switch {
	case dst.exists && dst.isDir:
		if contents {
			return dst.path, ".", nil
		}
		return dst.path, srcName, nil
	case dst.exists && srcIsDir:
		return "", "", ErrCannotCopyDir
	case dst.exists, srcIsDir:
		return dirOf(dst.path), base(dst.path), nil
	case assertsDir(dstArg):
		return "", "", ErrDirNotExists
	default:
		return dirOf(dst.path), base(dst.path), nil
	}
}

// ToContainer copies src (a host path, or "-" for a tar stream read from
// stdin) to dst in container id.
func ToContainer(ctx context.Context, c engine.Copier, id, src string, stdin io.Reader, dst string, opts Options) error {
	info, err := containerDst(ctx, c, id, dst)
	if err != nil {
		return err
	}
	copyOpts := engine.CopyToOptions{CopyUIDGID: opts.CopyUIDGID}
	if src == "-" {
		if !info.isDir {
			return fmt.Errorf("destination %q must be a directory", dst)
		}
		return c.CopyTo(ctx, id, info.path, stdin, copyOpts)
	}
	srcPath, err := localPath(src)
	if err != nil {
		return err
	}
	contents := strings.HasSuffix(src, "/.") || src == "."
	name := filepath.Base(srcPath)
	// A trailing "/" or "/." asks for a directory: a symlink there is
	// followed, as the kernel does.
	if opts.FollowLink || assertsDir(src) {
		resolved, err := filepath.EvalSymlinks(srcPath)
		if err != nil {
			return err
		}
		srcPath = resolved
	}
	fi, err := os.Lstat(srcPath)
	if err != nil {
		return err
	}
	dir, top, err := placement(info, dst, fi.IsDir(), contents, name, path.Dir, path.Base)
	if err != nil {
		return err
	}
	root, err := inroot.Open(filepath.Dir(srcPath))
	if err != nil {
		return err
	}
	defer root.Close()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(roottar.Write(pw, root, filepath.Base(srcPath), inroot.NoSymlinks, top))
	}()
	err = c.CopyTo(ctx, id, dir, pr, copyOpts)
	pr.CloseWithError(errors.New("copy ended"))
	return err
}

// FromContainer copies src in container id to dst (a host path, or "-"
// for a tar stream written to stdout).
func FromContainer(ctx context.Context, c engine.Copier, id, src, dst string, stdout io.Writer, opts Options) error {
	srcPath := containerPath(src)
	contents := strings.HasSuffix(src, "/.") || src == "."
	name := path.Base(srcPath)
	if name == "/" {
		name = "." // the root's entries, named relative
	}
	if opts.FollowLink {
		st, err := c.StatPath(ctx, id, srcPath)
		for n := 0; err == nil && st.Mode&os.ModeSymlink != 0; n++ {
			if n >= maxLinks {
				return fmt.Errorf("too many symlinks in %s", src)
			}
			t := st.LinkTarget
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(srcPath), t)
			}
			srcPath = path.Clean(t)
			st, err = c.StatPath(ctx, id, srcPath)
		}
	}
	var info dstInfo
	if dst != "-" {
		var err error
		if info, err = localDst(dst); err != nil {
			return err
		}
	}
	rc, st, err := c.CopyFrom(ctx, id, srcPath)
	if err != nil {
		return err
	}
	defer rc.Close()
	if dst == "-" {
		top := name
		if contents {
			top = "."
		}
		_, err := io.Copy(stdout, rebase(rc, top))
		return err
	}
	dir, top, err := placement(info, dst, st.Mode.IsDir(), contents, name, filepath.Dir, filepath.Base)
	if err != nil {
		return err
	}
	root, err := inroot.Open(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	err = roottar.Extract(rebase(rc, top), root, ".", roottar.ExtractOptions{How: inroot.NoSymlinks, NoChown: true, Host: true})
	// The extraction writes through a descriptor of dir and names files
	// relative to it: an error (a full disk above all) says where on
	// the host.
	var pe *fs.PathError
	if errors.As(err, &pe) && !filepath.IsAbs(pe.Path) {
		pe.Path = filepath.Join(dir, pe.Path)
	}
	return err
}

// entryName is a tar entry's name, clean and relative ("" for the top).
func entryName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// under renames name, which must be old or below it, to be top or below
// it instead.
func under(name, old, top string) (string, bool) {
	if old == "" {
		return path.Join(top, name), true
	}
	if name == old {
		return top, true
	}
	rel, ok := strings.CutPrefix(name, old+"/")
	return path.Join(top, rel), ok
}

// rebase renames the top entry of the tar stream r (its first entry) to
// top, and every other entry below it: "." makes them its contents.
func rebase(r io.Reader, top string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tr := tar.NewReader(r)
		tw := tar.NewWriter(pw)
		old := ""
		first := true
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			name := entryName(hdr.Name)
			if first {
				old, first = name, false
			}
			n, ok := under(name, old, top)
			if !ok {
				pw.CloseWithError(fmt.Errorf("archive entry %q is not below %q", hdr.Name, old))
				return
			}
			hdr.Name = n
			if hdr.Typeflag == tar.TypeDir {
				hdr.Name += "/"
			}
			if hdr.Typeflag == tar.TypeLink {
				if hdr.Linkname, ok = under(entryName(hdr.Linkname), old, top); !ok {
					pw.CloseWithError(fmt.Errorf("archive entry %q links to %q, not below %q", hdr.Name, hdr.Linkname, old))
					return
				}
			}
			hdr.Format = tar.FormatPAX
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}
