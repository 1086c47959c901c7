//go:build !hoistinit

package runtime

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/user"
	"github.com/hoist-dev/hoist/internal/inroot"
	"github.com/hoist-dev/hoist/internal/overlay"
	"github.com/hoist-dev/hoist/internal/rootfswrite"
	"github.com/hoist-dev/hoist/internal/roottar"
)

// roleCopy is the copy helper (hoist cp): hoist again, whose root becomes
// the container's root, that stats, archives or extracts one path there.
// It runs from hoist's own binary, not the init binary.
const roleCopy = rolePrefix + "copy"

// fdCopyResult is where the copy helper writes its JSON results (a
// copyResult when the path is resolved, another if it fails afterwards).
const fdCopyResult = 6

func init() { RegisterRole(roleCopy, runCopyHelper) }

// copyConfig is sent to the copy helper on fdConfig.
type copyConfig struct {
	Op   string `json:"op"` // "stat", "archive", "extract" or "sync"
	Path string `json:"path"`
	// Changes of a sync, whose contents come on stdin (see CopySync).
	Changes []rootfswrite.Change `json:"changes,omitempty"`
	// Owner of extracted files: with CopyUIDGID, the container's User
	// when it has one, else the archive's owners.
	CopyUIDGID bool   `json:"copy_uid_gid,omitempty"`
	User       string `json:"user,omitempty"`
	// Stopped: the container's file system is mounted by the helper in
	// a mount namespace of its own; otherwise it joins the running
	// container's (fdMountNS).
	Stopped *CopyStopped `json:"stopped,omitempty"`
}

// copyResult is one line of the helper on fdCopyResult.
type copyResult struct {
	Stat     *FileStat `json:"stat,omitempty"`
	Error    string    `json:"error,omitempty"`
	NotFound bool      `json:"not_found,omitempty"`
}

// runCopyHelper runs on the main thread, locked (MaybeInit): every path
// it resolves is resolved there, after its root became the container's.
func runCopyHelper() int {
	out := os.NewFile(fdCopyResult, "copy-result")
	enc := json.NewEncoder(out)
	fail := func(err error) int {
		_ = enc.Encode(copyResult{Error: err.Error(), NotFound: errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)})
		return 1
	}
	var cfg copyConfig
	if err := readConfig(&cfg); err != nil {
		return fail(err)
	}
	if err := enterContainerRoot(cfg.Stopped); err != nil {
		return fail(err)
	}
	// The root is now the container's: "/" below is its root, and the
	// kernel keeps every path of this thread inside it; inroot keeps
	// them there by its own rules too.
	root, err := inroot.Open("/")
	if err != nil {
		return fail(err)
	}
	defer root.Close()
	p := path.Clean("/" + cfg.Path)
	switch cfg.Op {
	case "stat", "archive":
		st, err := roottar.Lstat(root, p, inroot.InRoot)
		if err != nil {
			return fail(err)
		}
		if err := enc.Encode(copyResult{Stat: &st}); err != nil {
			return 1
		}
		if cfg.Op == "stat" {
			return 0
		}
		w := os.NewFile(1, "stdout")
		if err := roottar.Write(w, root, p, inroot.InRoot, path.Base(p)); err != nil {
			return fail(err)
		}
		if err := w.Close(); err != nil {
			return fail(err)
		}
		return 0
	case "extract":
		d, err := root.OpenDir(p, inroot.InRoot)
		if err != nil {
			return fail(err)
		}
		d.Close()
		if err := enc.Encode(copyResult{}); err != nil {
			return 1
		}
		opts := roottar.ExtractOptions{How: inroot.InRoot}
		if cfg.CopyUIDGID && cfg.User != "" {
			u, err := user.Resolve("/", cfg.User, nil)
			if err != nil {
				return fail(err)
			}
			opts.Owner = &roottar.Owner{UID: u.UID, GID: u.GID}
		}
		if err := roottar.Extract(os.Stdin, root, p, opts); err != nil {
			return fail(err)
		}
		// The rest of the stream (tar's end padding) is read, so the
		// writer never fails on a closed pipe.
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	case "sync":
		if err := applySync(root, cfg.Changes, os.Stdin); err != nil {
			return fail(err)
		}
		_, _ = io.Copy(io.Discard, os.Stdin)
		if err := enc.Encode(copyResult{}); err != nil {
			return 1
		}
		return 0
	default:
		return fail(fmt.Errorf("unknown copy operation %q", cfg.Op))
	}
}

// applySync applies changes in order; the content of change i, when the
// host still had it, is the tar entry named i of r.
func applySync(root *inroot.Root, changes []rootfswrite.Change, r io.Reader) error {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil && err != io.EOF {
		return err
	}
	for i, c := range changes {
		var content *rootfswrite.Content
		if !c.Deleted && hdr != nil && hdr.Name == strconv.Itoa(i) {
			perm := os.FileMode(hdr.Mode).Perm()
			switch hdr.Typeflag {
			case tar.TypeReg:
				content = &rootfswrite.Content{Mode: perm, Data: tr}
			case tar.TypeSymlink:
				content = &rootfswrite.Content{Mode: os.ModeSymlink, Link: hdr.Linkname}
			case tar.TypeDir:
				content = &rootfswrite.Content{Mode: os.ModeDir | perm}
			}
		}
		if c.Deleted || content != nil {
			if err := rootfswrite.ApplyOne(root, c, content); err != nil {
				return fmt.Errorf("%s: %w", c.Path, err)
			}
		}
		if !c.Deleted && hdr != nil && hdr.Name == strconv.Itoa(i) {
			if hdr, err = tr.Next(); err == io.EOF {
				hdr = nil
			} else if err != nil {
				return err
			}
		}
	}
	return nil
}

// enterContainerRoot makes this thread's root the container's: by joining
// a running container's mount namespace, or, for a stopped container, by
// mounting its overlay and its mounts in a mount namespace of the
// helper's own (invisible to the host, gone when the helper exits) and
// changing root into it.
func enterContainerRoot(s *CopyStopped) error {
	if s == nil {
		return joinMountNS()
	}
	if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("new mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	o := s.Overlay
	if err := overlay.Mount(o.Lowers, o.Upper, o.Work, s.Rootfs, false); err != nil {
		return err
	}
	if s.ReadonlyRootfs {
		if err := unix.Mount("", s.Rootfs, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remount rootfs read-only: %w", err)
		}
	}
	if err := userMounts(s.Rootfs, s.Mounts); err != nil {
		return err
	}
	if err := unix.Chdir(s.Rootfs); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot to rootfs: %w", err)
	}
	return unix.Chdir("/")
}
