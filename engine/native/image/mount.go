package image

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MountRootfs mounts an overlayfs at target from layers (unpacked layer
// dirs, lowest first, as Image.Layers), with upper as the container's
// writable layer and work as overlayfs's scratch dir on the same
// filesystem as upper. With upper == "" the rootfs is read-only.
//
// mount(2) takes at most one page of options. When the absolute layer
// paths do not fit, each layer is opened and named by its short
// /proc/self/fd/N path instead (about 19 bytes a layer, so some 200
// layers), which needs no chdir and so is safe in a threaded process.
func MountRootfs(layers []string, upper, work, target string) error {
	return mountRootfs(layers, upper, work, target, false, false)
}

// MountVolatileRootfs is MountRootfs for a writable layer that is thrown
// away with its container (run --rm): overlayfs's volatile option skips
// every sync of the upper layer, including the one at unmount, which
// otherwise syncs the whole file system under it (about 1 ms when idle,
// far more when other writers left dirty data). A crash makes such a
// layer unmountable, and nothing mounts it again. Kernels before 5.10 lack
// the option; there it is a plain mount.
func MountVolatileRootfs(layers []string, upper, work, target string) error {
	return mountRootfs(layers, upper, work, target, false, upper != "")
}

func mountRootfs(layers []string, upper, work, target string, forceFDs, volatile bool) error {
	if len(layers) == 0 {
		return errors.New("mount rootfs: no layers")
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	if upper == "" && len(layers) == 1 {
		// overlayfs wants two lowers without an upper; a read-only bind
		// is the same thing.
		if err := unix.Mount(layers[0], target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mount rootfs: bind %s: %w", layers[0], err)
		}
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("mount rootfs: read-only remount: %w", err)
		}
		return nil
	}
	if upper != "" {
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("mount rootfs: %w", err)
			}
		}
	}
	names := layers
	if forceFDs || len(overlayOptions(layers, upper, work, true, volatile)) >= os.Getpagesize() {
		var fds []int
		defer func() {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}()
		names = make([]string, len(layers))
		for i, l := range layers {
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
	opts := overlayOptions(names, upper, work, true, volatile)
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("mount rootfs: %d layers do not fit in mount options", len(layers))
	}
	err := unix.Mount("overlay", target, "overlay", 0, opts)
	if errors.Is(err, unix.EINVAL) && volatile {
		err = unix.Mount("overlay", target, "overlay", 0, overlayOptions(names, upper, work, true, false))
	}
	if errors.Is(err, unix.EINVAL) {
		err = unix.Mount("overlay", target, "overlay", 0, overlayOptions(names, upper, work, false, false))
	}
	if err != nil {
		return fmt.Errorf("mount rootfs at %s: %w", target, err)
	}
	return nil
}

// overlayOptions lists lowers top-most first, as overlayfs wants them.
func overlayOptions(lowers []string, upper, work string, indexOff, volatile bool) string {
	rev := make([]string, len(lowers))
	for i, l := range lowers {
		rev[len(lowers)-1-i] = escapeOverlay(l)
	}
	opts := "lowerdir=" + strings.Join(rev, ":")
	if upper != "" {
		opts += ",upperdir=" + escapeOverlay(upper) + ",workdir=" + escapeOverlay(work)
	}
	if indexOff {
		opts += ",index=off"
	}
	if volatile {
		opts += ",volatile"
	}
	return opts
}

// escapeOverlay escapes the separators overlayfs splits options on.
func escapeOverlay(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`).Replace(p)
}

// Unmount unmounts a rootfs mounted by MountRootfs. A target that is not
// mounted (or does not exist) is not an error, so cleanup can be retried.
func Unmount(target string) error {
	err := unix.Unmount(target, 0)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", target, err)
}
