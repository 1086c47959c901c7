package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/inroot"
	"github.com/hoist-dev/hoist/internal/overlay"
)

func fdPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// mountAt mounts onto target resolved inside root (see init_securejoin.go).
func mountAt(root, target string, file bool, source, fstype string, flags uintptr, data string) error {
	t, err := prepareTarget(root, target, file)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := unix.Mount(source, fdPath(t), fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", source, target, err)
	}
	return nil
}

// remountReadonly makes the bind mount now on target read-only; target
// is re-resolved and re-opened so the remount hits the new mount.
func remountReadonly(root, target string, extra uintptr) error {
	p, err := resolveInRoot(root, target)
	if err != nil {
		return err
	}
	t, err := openInRoot(root, p)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := unix.Mount("", fdPath(t), "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|extra, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", target, err)
	}
	return nil
}

// setupRootfs builds the container's mount tree below s.Rootfs and makes
// it the root with pivot_root, with nodes in its /dev. It runs in the
// container's fresh mount namespace.
func setupRootfs(s *Spec, nodes []deviceNode) error {
	// Slave, not private: host unmounts still propagate in (so a volume
	// that goes away on the host does not stay pinned here), while nothing
	// mounted here propagates out.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / rslave: %w", err)
	}
	root := path.Clean(s.Rootfs)
	if o := s.Overlay; o != nil {
		// Visible only here, and gone with this mount namespace.
		if err := overlay.Mount(o.Lowers, o.Upper, o.Work, root, o.Volatile); err != nil {
			return err
		}
	}
	// pivot_root needs the new root to be a mount point.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs onto itself: %w", err)
	}
	if err := mountAt(root, "/proc", false, "proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := setupDev(root, s.ShmSize, nodes); err != nil {
		return err
	}
	if err := mountSys(root, s.Security.Privileged); err != nil {
		return err
	}
	if err := userMounts(root, s.Mounts); err != nil {
		return err
	}
	for _, f := range []struct{ src, dst string }{{s.Hosts, "/etc/hosts"}, {s.ResolvConf, "/etc/resolv.conf"}, {s.HostnameFile, "/etc/hostname"}} {
		if f.src == "" {
			continue
		}
		if err := mountAt(root, f.dst, true, f.src, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	if err := pivotRoot(root); err != nil {
		return err
	}
	// Sysctls go through this container's procfs while /proc/sys is still
	// writable, and after pivot_root, so that an image whose /proc is a
	// symlink cannot send them to a host path.
	if err := applySysctls("/proc/sys", s.Sysctls); err != nil {
		return err
	}
	for _, p := range s.maskedPaths() {
		if err := maskPath(p); err != nil {
			return err
		}
	}
	for _, p := range s.readonlyPaths() {
		if err := readonlyPath(p); err != nil {
			return err
		}
	}
	if s.ReadonlyRootfs {
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remount rootfs read-only: %w", err)
		}
	}
	return nil
}

// mountSys mounts a read-only sysfs (read-write when privileged). A sysfs
// for another network namespace can be refused; then the host's /sys is
// bound read-only instead, as runc does.
func mountSys(root string, privileged bool) error {
	var ro uintptr = unix.MS_RDONLY
	if privileged {
		ro = 0
	}
	err := mountAt(root, "/sys", false, "sysfs", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|ro, "")
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	if err := mountAt(root, "/sys", false, "/sys", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if ro != 0 {
		return remountReadonly(root, "/sys", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	}
	return nil
}

// userMounts mounts parents before children.
func userMounts(root string, mounts []Mount) error {
	sorted := slices.Clone(mounts)
	depth := func(m Mount) int { return strings.Count(path.Clean(m.Target), "/") }
	slices.SortStableFunc(sorted, func(a, b Mount) int { return depth(a) - depth(b) })
	for _, m := range sorted {
		switch m.Type {
		case MountTmpfs:
			mode := m.TmpfsMode
			if mode == 0 {
				mode = 0o1777
			}
			data := fmt.Sprintf("mode=%o", mode&0o7777)
			if m.TmpfsSize > 0 {
				data += fmt.Sprintf(",size=%d", m.TmpfsSize)
			}
			if m.TmpfsUID > 0 || m.TmpfsGID > 0 {
				data += fmt.Sprintf(",uid=%d,gid=%d", m.TmpfsUID, m.TmpfsGID)
			}
			var flags uintptr = unix.MS_NOSUID | unix.MS_NODEV
			if !m.TmpfsExec {
				flags |= unix.MS_NOEXEC
			}
			if m.ReadOnly {
				flags |= unix.MS_RDONLY
			}
			if err := mountAt(root, m.Target, false, "tmpfs", "tmpfs", flags, data); err != nil {
				return err
			}
		default:
			src, err := mountSource(m)
			if err != nil {
				return err
			}
			fi, err := src.Stat()
			if err != nil {
				src.Close()
				return fmt.Errorf("mount source: %w", err)
			}
			err = mountAt(root, m.Target, !fi.IsDir(), fdPath(src), "", unix.MS_BIND|unix.MS_REC, "")
			src.Close()
			if err != nil {
				return err
			}
			if m.ReadOnly {
				if err := remountReadonly(root, m.Target, 0); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// mountSource opens what m binds: its Source, or with a Subpath that
// path resolved inside Source (a volume the containers may write: a
// symlink there is followed as if Source were "/", so it never leads out
// of the volume), as an O_PATH descriptor that the bind then uses, so
// nothing can be swapped in between.
func mountSource(m Mount) (*os.File, error) {
	if m.Subpath == "" {
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		return os.NewFile(uintptr(fd), m.Source), nil
	}
	r, err := inroot.Open(m.Source)
	if err != nil {
		return nil, fmt.Errorf("mount source %s: %w", m.Source, err)
	}
	defer r.Close()
	f, err := r.OpenFile(m.Subpath, inroot.InRoot, unix.O_PATH, 0)
	if err != nil {
		return nil, fmt.Errorf("mount source %s, subpath %s: %w", m.Source, m.Subpath, err)
	}
	return f, nil
}

// pivotRoot makes root the new "/" and detaches the old one. Pivoting
// "." onto "." stacks the old root on top of the new one, so no directory
// for the old root is needed inside the image.
func pivotRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir to rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// Make sure the unmount below cannot propagate to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	return nil
}

// maskPath hides p (after pivot_root) behind /dev/null or an empty
// read-only tmpfs; missing paths are skipped.
func maskPath(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	if fi.IsDir() {
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
	} else {
		err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// readonlyPath binds p onto itself and remounts it read-only.
func readonlyPath(p string) error {
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s read-only: %w", p, err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount(p, p, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", p, err)
	}
	return nil
}
