package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"

	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
	"github.com/hoist-dev/hoist/internal/devicerule"
)

// Spec describes one container. Everything except the io and hook fields is
// sent to the container's init as JSON, so it must stay serialisable.
type Spec struct {
	// ID names the container's cgroup; letters, digits, '.', '_' and '-'.
	ID string `json:"id"`
	// Rootfs is the prepared root filesystem (for example an overlay
	// mount), or with Overlay the directory to mount it on.
	Rootfs string `json:"rootfs"`
	// Overlay, when set, is mounted at Rootfs by the init itself, inside
	// the container's mount namespace, rather than by the caller on the
	// host: it needs no unmount and cannot outlive the container, and the
	// init can be spawned before the writable layer exists.
	Overlay *Overlay `json:"overlay,omitempty"`

	// Args is the command; Args[0] is looked up in the container's PATH.
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`
	// Cwd defaults to "/"; it is created when missing, as Docker does.
	Cwd string `json:"cwd,omitempty"`
	// User is "name", "uid", "name:group" or "uid:gid", resolved in the
	// rootfs's /etc/passwd and /etc/group. Empty means root.
	User string `json:"user,omitempty"`
	// GroupAdd lists extra supplementary groups (names or gids).
	GroupAdd []string `json:"group_add,omitempty"`
	Hostname string   `json:"hostname,omitempty"`

	// Init runs hoist as pid 1 to reap zombies and forward signals; the
	// command then runs as its child, forked with the command's
	// credentials and confinement, which pid 1 takes on too.
	Init bool `json:"init,omitempty"`

	Security Security `json:"security"`

	ReadonlyRootfs bool    `json:"readonly_rootfs,omitempty"`
	Mounts         []Mount `json:"mounts,omitempty"`
	// MaskedPaths and ReadonlyPaths default to Docker's lists when nil
	// (DefaultMaskedPaths, DefaultReadonlyPaths); Privileged clears both.
	MaskedPaths   []string `json:"masked_paths"`
	ReadonlyPaths []string `json:"readonly_paths"`
	// Hosts, ResolvConf and HostnameFile are host files bound onto
	// /etc/hosts, /etc/resolv.conf and /etc/hostname when set.
	Hosts        string `json:"hosts,omitempty"`
	ResolvConf   string `json:"resolv_conf,omitempty"`
	HostnameFile string `json:"hostname_file,omitempty"`

	// Sysctls may only name namespaced keys (see checkSysctl).
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Ulimits are clamped to hoist's current hard limits.
	Ulimits   []Ulimit  `json:"ulimits,omitempty"`
	Resources Resources `json:"resources"`
	// ShmSize is the size of /dev/shm in bytes; 0 means 64 MiB as in Docker.
	ShmSize int64 `json:"shm_size,omitempty"`

	Network Network `json:"network"`

	// Devices are host devices the container gets (compose's devices:),
	// and DeviceRules further devices it may use (device_cgroup_rules);
	// both add to devicerule.Defaults. A privileged container may use
	// every device.
	Devices     []Device     `json:"devices,omitempty"`
	DeviceRules []DeviceRule `json:"device_rules,omitempty"`

	// Stdin, Stdout and Stderr are the command's stdio: pipes that the
	// runtime copies (or files marked Handover, given as they are); nil
	// Stdin reads as empty, nil Stdout or Stderr is discarded. With TTY
	// they are not used: the command's stdio is a pty of the container's
	// devpts, of size Size, whose master is Process.Console.
	Stdin  io.Reader `json:"-"`
	Stdout io.Writer `json:"-"`
	Stderr io.Writer `json:"-"`
	TTY    bool      `json:"tty,omitempty"`
	Size   WinSize   `json:"size,omitzero"`

	// Prestart runs in the parent after the container's namespaces and
	// cgroup exist and before its init does anything; the network setup
	// goes here.
	Prestart func(ctx context.Context, pid int) error `json:"-"`
}

// Security holds the settings that also apply to processes started by Exec.
type Security struct {
	// Privileged keeps every capability and disables seccomp, masked and
	// read-only paths, and the read-only /sys.
	Privileged bool `json:"privileged,omitempty"`
	// CapAdd and CapDrop take names with or without "CAP_", or "ALL".
	CapAdd          []string `json:"cap_add,omitempty"`
	CapDrop         []string `json:"cap_drop,omitempty"`
	NoNewPrivileges bool     `json:"no_new_privileges,omitempty"`
	// SeccompUnconfined disables the default seccomp profile.
	SeccompUnconfined bool `json:"seccomp_unconfined,omitempty"`
}

// capabilities is the bounding set of a process confined by s (caps.For).
func (s Security) capabilities() (caps.Set, error) {
	return caps.For(s.Privileged, s.CapAdd, s.CapDrop)
}

// DefaultCapabilities are the 14 capabilities Docker grants by default.
func DefaultCapabilities() []string { return caps.Default() }

// MountType is the kind of a Mount.
type MountType string

// Mount types. A named volume is a directory on the host bound like "bind".
const (
	MountBind   MountType = "bind"
	MountVolume MountType = "volume"
	MountTmpfs  MountType = "tmpfs"
)

// Mount is one mount inside the container. Target is resolved inside the
// rootfs, so symlinks in the image cannot point it at the host.
type Mount struct {
	Type     MountType `json:"type"`
	Source   string    `json:"source,omitempty"`
	Target   string    `json:"target"`
	ReadOnly bool      `json:"read_only,omitempty"`
	// Subpath, for a bind or volume, is a path inside Source to bind
	// instead, resolved when the container starts with Source as its
	// root, so that a symlink a container planted in a volume cannot
	// lead out of it.
	Subpath string `json:"subpath,omitempty"`
	// TmpfsSize is in bytes (0: the kernel's default, half of RAM).
	TmpfsSize int64 `json:"tmpfs_size,omitempty"`
	// TmpfsMode is the Unix mode of the tmpfs root, e.g. 0o1777 (the default).
	TmpfsMode uint32 `json:"tmpfs_mode,omitempty"`
	// TmpfsUID and TmpfsGID own the tmpfs's root (0: root).
	TmpfsUID int `json:"tmpfs_uid,omitempty"`
	TmpfsGID int `json:"tmpfs_gid,omitempty"`
	// TmpfsExec allows executing files on the tmpfs; like Docker's, a
	// tmpfs is noexec (and always nosuid and nodev) unless asked.
	TmpfsExec bool `json:"tmpfs_exec,omitempty"`
}

// Ulimit is one resource limit, named as in Docker ("nofile", "nproc", ...).
type Ulimit struct {
	Name string `json:"name"`
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// Resources are the cgroup limits (package cgroup applies them, as
// cgroup.Resources); zero means unlimited.
type Resources struct {
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// MemorySwapBytes is memory plus swap (Docker's --memory-swap), with
	// MemoryBytes set: -1 is unlimited swap. It is not applied where the
	// kernel does not account swap, as Docker skips it there.
	MemorySwapBytes int64 `json:"memory_swap_bytes,omitempty"`
	// NanoCPUs is CPUs × 1e9, as Docker's --cpus.
	NanoCPUs  int64 `json:"nano_cpus,omitempty"`
	PidsLimit int64 `json:"pids_limit,omitempty"`
}

// NetworkMode selects the container's network namespace.
type NetworkMode string

// Network modes: a new namespace with only lo up, the host's, or an
// existing one named by a path such as /proc/<pid>/ns/net or /run/netns/x.
const (
	NetworkNew  NetworkMode = ""
	NetworkHost NetworkMode = "host"
	NetworkJoin NetworkMode = "join"
)

// Network is the container's network namespace choice.
type Network struct {
	Mode NetworkMode `json:"mode,omitempty"`
	// Path is the namespace to join with NetworkJoin.
	Path string `json:"path,omitempty"`
}

// validID reports whether id is 1 to 128 of [A-Za-z0-9_.-], starting
// with a letter or digit. (Not a regexp: compiling {0,127} cost every
// hoist process, the container init among them, 3 ms at startup.)
func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Overlay is an overlayfs root filesystem: read-only Lowers (lowest
// first) under the writable Upper, with Work on Upper's file system;
// Volatile skips every sync of Upper (a layer thrown away afterwards).
type Overlay struct {
	Lowers   []string `json:"lowers"`
	Upper    string   `json:"upper"`
	Work     string   `json:"work"`
	Volatile bool     `json:"volatile,omitempty"`
}

// ErrInvalidSpec is wrapped by every validation error.
var ErrInvalidSpec = errors.New("invalid container spec")

func (s *Spec) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
	}
	if !validID(s.ID) {
		return bad("id %q", s.ID)
	}
	if !filepath.IsAbs(s.Rootfs) {
		return bad("rootfs %q is not absolute", s.Rootfs)
	}
	if o := s.Overlay; o != nil {
		if len(o.Lowers) == 0 {
			return bad("overlay without layers")
		}
		for _, p := range append(slices.Clone(o.Lowers), o.Upper, o.Work) {
			if !filepath.IsAbs(p) {
				return bad("overlay path %q is not absolute", p)
			}
		}
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		return bad("no command")
	}
	if s.Cwd != "" && !path.IsAbs(s.Cwd) {
		return bad("cwd %q is not absolute", s.Cwd)
	}
	for _, m := range s.Mounts {
		if !path.IsAbs(m.Target) {
			return bad("mount target %q is not absolute", m.Target)
		}
		switch m.Type {
		case MountBind, MountVolume:
			if !filepath.IsAbs(m.Source) {
				return bad("mount source %q is not absolute", m.Source)
			}
		case MountTmpfs:
		default:
			return bad("mount type %q", m.Type)
		}
	}
	for _, d := range s.Devices {
		if !filepath.IsAbs(d.HostPath) {
			return bad("device %q is not an absolute path", d.HostPath)
		}
		if d.Path != "" && !path.IsAbs(d.Path) {
			return bad("device path %q in the container is not absolute", d.Path)
		}
		if d.Access != "" && !devicerule.ValidAccess(d.Access) {
			return bad("device %s: access %q is not letters of rwm", d.HostPath, d.Access)
		}
	}
	for _, r := range s.DeviceRules {
		if err := r.Validate(); err != nil {
			return bad("%v", err)
		}
	}
	for k := range s.Sysctls {
		if err := checkSysctl(k, s.Network.Mode); err != nil {
			return bad("%v", err)
		}
	}
	for _, u := range s.Ulimits {
		if _, ok := rlimitByName(u.Name); !ok {
			return bad("ulimit %q", u.Name)
		}
	}
	switch s.Network.Mode {
	case NetworkNew, NetworkHost:
	case NetworkJoin:
		if !filepath.IsAbs(s.Network.Path) {
			return bad("network namespace path %q", s.Network.Path)
		}
	default:
		return bad("network mode %q", s.Network.Mode)
	}
	if _, err := s.Security.capabilities(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// DefaultMaskedPaths are Docker's masked paths: hidden behind /dev/null (a
// file) or an empty read-only tmpfs (a directory).
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore",
		"/proc/keys", "/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths are Docker's read-only paths.
func DefaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

func (s *Spec) maskedPaths() []string {
	switch {
	case s.Security.Privileged:
		return nil
	case s.MaskedPaths == nil:
		return DefaultMaskedPaths()
	}
	return s.MaskedPaths
}

func (s *Spec) readonlyPaths() []string {
	switch {
	case s.Security.Privileged:
		return nil
	case s.ReadonlyPaths == nil:
		return DefaultReadonlyPaths()
	}
	return s.ReadonlyPaths
}
