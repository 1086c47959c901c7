package store

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/internal/inroot"
)

// WriteFiles writes files (secrets and configs given as content) into a
// new container's writable layer, before its overlay is ever mounted. A
// parent directory the image has is made with the image's mode and
// owner, so that the merged directory looks as in the image; one it
// lacks is made 0755, root-owned. A parent that is not a directory in
// the image (a symlink) is refused: writing through it is not the
// image's layout. Both the upper dir and the image's layers are reached
// through internal/inroot with no symlink followed, so no link in the
// image leads a lookup or a write to the host.
func (l Layout) WriteFiles(id string, layers []string, files []engine.File) error {
	if len(files) == 0 {
		return nil
	}
	up, err := inroot.Open(filepath.Join(l.LayerDir(id), "upper"))
	if err != nil {
		return err
	}
	defer up.Close()
	img, err := openLayers(layers)
	if err != nil {
		return err
	}
	defer img.Close()
	for _, f := range files {
		if err := writeFile(up, img, f); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	return nil
}

func writeFile(up *inroot.Root, img imageLayers, f engine.File) error {
	p := path.Clean("/" + f.Path)
	if p == "/" || p != f.Path {
		return errors.New("not an absolute, clean path")
	}
	dir, err := up.MkdirAll(path.Dir(p), inroot.NoSymlinks, 0o700, func(dirfd int, name, rel string) error {
		mode, uid, gid := uint32(0o755), 0, 0
		if st, ok := img.entry(rel); ok {
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return fmt.Errorf("/%s is not a directory in the image", rel)
			}
			mode = st.Mode & (0o777 | unix.S_ISVTX | unix.S_ISGID)
			uid, gid = int(st.Uid), int(st.Gid)
		}
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return err
		}
		return unix.Fchmod(fd, mode)
	})
	if err != nil {
		return err
	}
	defer dir.Close()
	out, err := dir.OpenFile(path.Base(p), inroot.NoSymlinks, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = out.Write(f.Content)
	if err == nil {
		err = out.Chown(f.UID, f.GID)
	}
	if err == nil {
		// After chown, which clears setuid bits.
		err = out.Chmod(f.Mode.Perm())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// imageLayers are an image's unpacked layers, topmost last.
type imageLayers []*inroot.Root

func openLayers(layers []string) (imageLayers, error) {
	var out imageLayers
	for _, l := range layers {
		r, err := inroot.Open(l)
		if err != nil {
			out.Close()
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (l imageLayers) Close() {
	for _, r := range l {
		r.Close()
	}
}

// entry finds rel in the layers, topmost first, as overlayfs merges them:
// a whiteout hides it, and so does a layer where a directory above it is
// a symlink or a file (that entry covers the lower layers' directory).
// Nothing is followed: a symlink in a layer is only ever seen as one.
func (l imageLayers) entry(rel string) (unix.Stat_t, bool) {
	for i := len(l) - 1; i >= 0; i-- {
		st, err := l[i].Lstat(rel, inroot.NoSymlinks)
		switch {
		case err == nil:
			if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
				return st, false // overlay whiteout
			}
			return st, true
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
			return st, false
		}
	}
	return unix.Stat_t{}, false
}
