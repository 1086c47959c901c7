package native

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hoist-dev/hoist/engine"
)

// writeFiles writes files (secrets and configs given as content) into a
// new container's upper dir, before its overlay is ever mounted. A
// parent directory the image has is made with the image's mode and
// owner, so that the merged directory looks as in the image; one it
// lacks is made 0755, root-owned. A parent that is not a directory in
// the image (a symlink) is refused: writing through it is not the
// image's layout.
func writeFiles(upper string, layers []string, files []engine.File) error {
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" || p != f.Path {
			return fmt.Errorf("file %q: not an absolute, clean path", f.Path)
		}
		parts := strings.Split(strings.TrimPrefix(path.Dir(p), "/"), "/")
		dir := upper
		for i, part := range parts {
			if part == "" {
				continue
			}
			dir = filepath.Join(dir, part)
			if _, err := os.Lstat(dir); err == nil {
				continue
			}
			mode, uid, gid := fs.FileMode(0o755), 0, 0
			if fi, ok := imageEntry(layers, strings.Join(parts[:i+1], "/")); ok {
				if !fi.IsDir() {
					return fmt.Errorf("file %s: /%s is not a directory in the image", f.Path, strings.Join(parts[:i+1], "/"))
				}
				mode = fi.Mode().Perm() | fi.Mode()&(fs.ModeSticky|fs.ModeSetgid)
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					uid, gid = int(st.Uid), int(st.Gid)
				}
			}
			if err := os.Mkdir(dir, 0o700); err != nil {
				return fmt.Errorf("file %s: %w", f.Path, err)
			}
			if err := os.Lchown(dir, uid, gid); err != nil {
				return fmt.Errorf("file %s: %w", f.Path, err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				return fmt.Errorf("file %s: %w", f.Path, err)
			}
		}
		target := filepath.Join(upper, filepath.FromSlash(strings.TrimPrefix(p, "/")))
		if err := os.WriteFile(target, f.Content, 0o600); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		if err := os.Lchown(target, f.UID, f.GID); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		if err := os.Chmod(target, f.Mode.Perm()); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	return nil
}

// imageEntry finds rel in the image's layers, topmost first. A whiteout
// hides it; the layers are unpacked by hoist, so no entry is a symlink
// leading out (Lstat only).
func imageEntry(layers []string, rel string) (fs.FileInfo, bool) {
	for i := len(layers) - 1; i >= 0; i-- {
		fi, err := os.Lstat(filepath.Join(layers[i], rel))
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeCharDevice != 0 {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Rdev == 0 {
				return nil, false // overlay whiteout
			}
		}
		return fi, true
	}
	return nil, false
}
