package runtime

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/inroot"
	"github.com/hoist-dev/hoist/internal/userns"
)

// setupDev mounts a minimal /dev: a tmpfs with device nodes of its own
// (Docker's defaults and the container's devices), a private devpts
// instance, /dev/shm, /dev/mqueue and the usual symlinks. The nodes are
// made, not bound from the host's /dev: a bound node is the host's inode,
// so the container's root could chmod or chown the host's /dev/null.
// Making them needs CAP_MKNOD, which the init has until it execs; what a
// node may be used for is the device rules' business (devices.go).
func setupDev(root string, shmSize int64, nodes []deviceNode) error {
	if err := mountAt(root, "/dev", false, "tmpfs", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return err
	}
	// /dev is now our own empty tmpfs: no image symlinks can be in it, but
	// resolveInRoot still guards against a symlinked /dev in the image.
	dev, err := resolveInRoot(root, "/dev")
	if err != nil {
		return err
	}
	for _, d := range []string{"pts", "shm", "mqueue"} {
		if err := os.Mkdir(path.Join(dev, d), 0o755); err != nil {
			return fmt.Errorf("create /dev/%s: %w", d, err)
		}
	}
	// A pty's group is tty (5), as Docker gives it; a user namespace
	// that maps no group 5 (one id: a user with no subordinate range)
	// refuses the option, and its ptys stay root's group.
	ptsOpts := "newinstance,ptmxmode=0666,mode=0620"
	if userns.GIDMapped(5) {
		ptsOpts += ",gid=5"
	}
	if err := unix.Mount("devpts", path.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, ptsOpts); err != nil {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	if shmSize <= 0 {
		shmSize = 64 << 20
	}
	if err := unix.Mount("shm", path.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, fmt.Sprintf("mode=1777,size=%d", shmSize)); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	if err := unix.Mount("mqueue", path.Join(dev, "mqueue"), "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /dev/mqueue: %w", err)
	}
	links := map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	}
	for name, target := range links {
		if err := os.Symlink(target, path.Join(dev, name)); err != nil {
			return fmt.Errorf("create /dev/%s: %w", name, err)
		}
	}
	for _, n := range nodes {
		if err := makeNode(root, n); err != nil {
			return err
		}
	}
	return nil
}

// bindNode binds the host's node n on an empty file name in parent: in a
// user namespace (rootless) mknod makes no usable node. The node is the
// host's inode, which the container's root may not chmod or chown (its
// owner is outside the namespace), and the container may open it only
// as the user may: the user namespace, not a device cgroup, is what
// keeps it from the host's other devices.
func bindNode(parent *inroot.Root, name string, n deviceNode) error {
	if n.HostPath == "" {
		return fmt.Errorf("create device %s: no host node to bind in a user namespace", n.Path)
	}
	_ = unix.Unlinkat(parent.FD(), name, 0)
	fd, err := unix.Openat(parent.FD(), name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create device %s: %w", n.Path, err)
	}
	unix.Close(fd)
	target := fmt.Sprintf("/proc/self/fd/%d/%s", parent.FD(), name)
	if err := unix.Mount(n.HostPath, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind device %s: %w", n.Path, err)
	}
	return nil
}

// makeNode creates n at its path resolved inside root, replacing what the
// image may have there (but not a directory). The parent directories are
// made and opened one name at a time with no symlink followed, as mount
// targets are (prepareTarget).
func makeNode(root string, n deviceNode) error {
	p, err := resolveInRoot(root, n.Path)
	if err != nil {
		return err
	}
	root = path.Clean(root)
	rel := path.Clean("/" + strings.TrimPrefix(p, root))
	if rel == "/" {
		return fmt.Errorf("create device %s: not a file path", n.Path)
	}
	r, err := inroot.Open(root)
	if err != nil {
		return err
	}
	defer r.Close()
	parent, err := r.MkdirAll(path.Dir(rel), inroot.NoSymlinks, 0o755, nil)
	if err != nil {
		return fmt.Errorf("create device %s: %w", n.Path, err)
	}
	defer parent.Close()
	name := path.Base(rel)
	mode := n.Mode & 0o777
	if n.Type == 'b' {
		mode |= unix.S_IFBLK
	} else {
		mode |= unix.S_IFCHR
	}
	if userns.Inside() {
		return bindNode(parent, name, n)
	}
	dev := int(unix.Mkdev(uint32(n.Major), uint32(n.Minor)))
	err = unix.Mknodat(parent.FD(), name, mode, dev)
	if errors.Is(err, unix.EEXIST) {
		if err = unix.Unlinkat(parent.FD(), name, 0); err == nil {
			err = unix.Mknodat(parent.FD(), name, mode, dev)
		}
	}
	if err != nil {
		return fmt.Errorf("create device %s: %w", n.Path, err)
	}
	// mknod's mode is subject to the umask; the node gets the host's.
	// (What is at name is the node just made: nothing else runs yet.)
	if err := unix.Fchmodat(parent.FD(), name, n.Mode&0o777, 0); err != nil {
		return fmt.Errorf("create device %s: %w", n.Path, err)
	}
	if err := unix.Fchownat(parent.FD(), name, n.UID, n.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("create device %s: %w", n.Path, err)
	}
	return nil
}
