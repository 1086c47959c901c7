// Package overlay mounts overlayfs root filesystems: read-only image
// layers under a writable container layer. It is shared by the native
// engine's start path and the image store (which mount on the host) and
// the container init (which mounts inside the container's own mount
// namespace), so it stays free of heavy imports.
package overlay

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/userns"
)

// Mount mounts an overlayfs at target from lowers (lowest first) with
// upper as the writable layer and work as overlayfs's scratch dir on the
// same file system as upper; with upper == "" it is read-only (overlayfs
// then wants at least two lowers). With volatile the upper layer is never
// synced, not even at unmount (kernels before 5.10 lack the option: there
// it is a plain mount).
//
// mount(2) takes at most one page of options. When the absolute layer
// paths do not fit, each layer is opened and named by its short
// /proc/self/fd/N path instead (about 19 bytes a layer, so some 200
// layers), which needs no chdir and so is safe in a threaded process.
func Mount(lowers []string, upper, work, target string, volatile bool) error {
	return mount(lowers, upper, work, target, false, volatile)
}

// MountByFD is Mount always naming layers by descriptor (for tests of the
// long-options path).
func MountByFD(lowers []string, upper, work, target string, volatile bool) error {
	return mount(lowers, upper, work, target, true, volatile)
}

func mount(lowers []string, upper, work, target string, forceFDs, volatile bool) error {
	if len(lowers) == 0 {
		return errors.New("mount rootfs: no layers")
	}
	volatile = volatile && upper != ""
	lowers = topmostOnce(lowers)
	if upper == "" && len(lowers) == 1 {
		// overlayfs wants two lowers without an upper; a read-only bind
		// is the same thing.
		if err := unix.Mount(lowers[0], target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mount rootfs: bind %s: %w", lowers[0], err)
		}
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("mount rootfs: read-only remount: %w", err)
		}
		return nil
	}
	names := lowers
	if forceFDs || len(Options(lowers, upper, work, true, volatile)) >= os.Getpagesize() {
		var fds []int
		defer func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}()
		names = make([]string, len(lowers))
		for i, l := range lowers {
			fd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("mount rootfs: open layer: %w", err)
			}
			fds = append(fds, fd)
			names[i] = "/proc/self/fd/" + strconv.Itoa(fd)
		}
	}
	// index=off as Docker and containerd use it: lowers are shared by
	// many mounts and never exported. Kernels before 4.13 lack it.
	opts := Options(names, upper, work, true, volatile) + userxattr()
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("mount rootfs: %d layers do not fit in mount options", len(lowers))
	}
	err := unix.Mount("overlay", target, "overlay", 0, opts)
	if errors.Is(err, unix.EINVAL) && volatile {
		err = unix.Mount("overlay", target, "overlay", 0, Options(names, upper, work, true, false)+userxattr())
	}
	if errors.Is(err, unix.EINVAL) {
		err = unix.Mount("overlay", target, "overlay", 0, Options(names, upper, work, false, false)+userxattr())
	}
	if err != nil {
		return fmt.Errorf("mount rootfs at %s: %w", target, err)
	}
	return nil
}

// topmostOnce drops all but the topmost occurrence of a layer that is
// listed more than once (two steps of a build that made the same layer):
// overlayfs refuses a directory that is two of its layers (ELOOP), and
// the view is the same, since the upper copy covers whatever lies between
// the two with the very same entries, whiteouts and opaque markers.
func topmostOnce(lowers []string) []string {
	seen := make(map[string]bool, len(lowers))
	var out []string
	for i := len(lowers) - 1; i >= 0; i-- {
		if !seen[lowers[i]] {
			seen[lowers[i]] = true
			out = append(out, lowers[i])
		}
	}
	if len(out) == len(lowers) {
		return lowers
	}
	slices.Reverse(out)
	return out
}

// Options is the mount data for lowers (lowest first; overlayfs lists
// them top-most first), upper and work.
func Options(lowers []string, upper, work string, indexOff, volatile bool) string {
	rev := make([]string, len(lowers))
	for i, l := range lowers {
		rev[len(lowers)-1-i] = escape(l)
	}
	opts := "lowerdir=" + strings.Join(rev, ":")
	if upper != "" {
		opts += ",upperdir=" + escape(upper) + ",workdir=" + escape(work)
	}
	if indexOff {
		opts += ",index=off"
	}
	if volatile {
		opts += ",volatile"
	}
	return opts
}

// escape escapes the separators overlayfs splits options on.
// userxattr is the option a user namespace's overlay needs (Linux 5.11):
// its whiteouts and opaque markers are user.overlay.* xattrs, which the
// lower dirs unpacked in a user namespace carry (engine/native/image).
func userxattr() string {
	if userns.Inside() {
		return ",userxattr"
	}
	return ""
}

func escape(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`).Replace(p)
}

// Unmount unmounts a root file system mounted by Mount. A target that is
// not mounted (or does not exist) is not an error, so cleanup can be
// retried.
func Unmount(target string) error {
	err := unix.Unmount(target, 0)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", target, err)
}
