package image

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/overlay"
)

// MountRootfs mounts an overlayfs at target from layers (unpacked layer
// dirs, lowest first, as Image.Layers), with upper as the container's
// writable layer and work as overlayfs's scratch dir on the same
// filesystem as upper. With upper == "" the rootfs is read-only.
// Layers that do not fit in mount(2)'s page of options are named by
// descriptor (internal/overlay).
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
	if forceFDs {
		return overlay.MountByFD(layers, upper, work, target, volatile)
	}
	return overlay.Mount(layers, upper, work, target, volatile)
}

// Unmount unmounts a rootfs mounted by MountRootfs (overlay.Unmount).
func Unmount(target string) error { return overlay.Unmount(target) }
