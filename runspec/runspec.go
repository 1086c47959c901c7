// Package runspec is one container's configuration, resolved once from a
// compose service (compose.Resolve) and mapped by every engine: the docker
// engine to the Engine API, the native engine to its runtime, and later a
// Swarm engine and a Kubernetes converter. Compose's rules (which of
// restart and deploy.restart_policy wins, how cpus become nano-CPUs, which
// labels win, how a secret becomes a mount or a file) are applied by the
// resolver, so an engine adds none of them; two engines that each read the
// compose service drift apart, and did.
//
// The value says what the compose file says and leaves what it leaves to
// the image: a nil Entrypoint, an empty User or a Health in HealthInherit
// mode mean "the image's". An engine whose runtime merges the image (the
// Docker daemon) passes the value as it is; one that runs the image itself
// (the native engine) merges with MergeImage, which follows the daemon's
// rules.
//
// Everything here is plain data with stable units (bytes, nano-CPUs,
// time.Duration), so it can be compared, hashed and printed. It imports
// nothing from compose-go or from any engine.
package runspec

import (
	"os"
	"time"

	"github.com/hoist-dev/hoist/internal/devicerule"
)

// Container is what an engine needs to create one container.
type Container struct {
	// Image is the image reference (image:, or <project>-<service> for a
	// built image without one).
	Image string
	// Platform is "os/arch[/variant]" (platform:), "" for the host's.
	Platform string
	// Labels are the container's labels: the service's (labels,
	// label_file) under compose's own (com.docker.compose.*), which win,
	// as with docker compose. The image's labels are not here.
	Labels map[string]string

	Process   Process
	Restart   Restart
	Stop      Stop
	Health    Health
	Resources Resources
	Security  Security
	// Namespaces are the shared namespaces; a "service:x" reference is
	// already "container:<name of x's first container>".
	Namespaces Namespaces
	// Mounts are volumes, tmpfs (both the tmpfs: key and volumes of type
	// tmpfs) and file secrets and configs, in the service's order, then
	// secrets, then configs.
	Mounts []Mount
	// Files are written into the container before it first starts:
	// secrets and configs given as content or environment.
	Files       []File
	Devices     []Device
	DeviceRules []devicerule.Rule
	Network     Network
	Logging     Logging
	// Runtime is the OCI runtime's name (runtime:), "" the engine's.
	Runtime    string
	StorageOpt map[string]string
	// VolumeDriver is the driver of volumes created on use.
	VolumeDriver string
	// VolumesFrom are "container[:ro|rw]" entries, a service's name
	// already its first container's.
	VolumesFrom []string
	// Deploy is what an engine of many machines needs beyond the
	// container; an engine of one machine ignores it.
	Deploy Deploy
}

// Process is what runs, as whom and with what.
type Process struct {
	// Entrypoint nil: the image's; non-nil and empty: none (the image's
	// command still runs when Command is empty, as with Docker).
	Entrypoint []string
	// Command nil or empty: the image's, unless Entrypoint is set (a
	// service entrypoint drops the image's command, as with Docker).
	Command []string
	// Env is the service's environment (env_file under environment),
	// sorted by name. The image's environment is merged by MergeImage.
	Env []EnvVar
	// User is "name", "uid", "name:group" or "uid:gid"; "" the image's.
	User     string
	GroupAdd []string
	// WorkingDir "" is the image's, else "/".
	WorkingDir string
	// Hostname "" is the engine's default: the container ID's first 12
	// characters, the host's name with the host's network.
	Hostname   string
	Domainname string
	TTY        bool
	StdinOpen  bool
	// Init nil: the engine's default (off for both of hoist's).
	Init *bool
}

// EnvVar is one variable. Unset (a KEY listed without a value and not set
// where compose looked) removes KEY, the image's value included, as the
// Docker daemon does with a bare KEY.
type EnvVar struct {
	Name  string
	Value string
	Unset bool
}

// RestartMode is a restart policy's name, as Docker spells it.
type RestartMode string

// Restart modes.
const (
	RestartNo            RestartMode = "no"
	RestartAlways        RestartMode = "always"
	RestartOnFailure     RestartMode = "on-failure"
	RestartUnlessStopped RestartMode = "unless-stopped"
)

// Restart is the resolved policy: deploy.restart_policy, when present,
// replaces restart:; a one-off container never restarts.
type Restart struct {
	Mode RestartMode
	// MaxAttempts bounds on-failure restarts; 0: no bound.
	MaxAttempts int
}

// Stop is how the container is stopped.
type Stop struct {
	// Signal "" is the image's STOPSIGNAL, else SIGTERM.
	Signal string
	// GracePeriod nil is the engine's default (10 s). It is whole
	// seconds, truncated, as docker compose gives it to the Engine.
	GracePeriod *time.Duration
}

// DefaultGracePeriod is the time a stop waits before it kills, when
// neither the service nor the command says.
const DefaultGracePeriod = 10 * time.Second

// HealthMode says how the service's healthcheck relates to the image's.
type HealthMode int

const (
	// HealthInherit: the service has no healthcheck: the image's applies.
	HealthInherit HealthMode = iota
	// HealthDisable: no healthcheck (disable: true, or test: [NONE]).
	HealthDisable
	// HealthSet: the service's fields; a zero field takes the image's,
	// then Docker's default.
	HealthSet
)

// Health is the service's healthcheck, before the image's is merged.
type Health struct {
	Mode HealthMode
	// Test is ["CMD", args...] or ["CMD-SHELL", command]; empty: the
	// image's.
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Docker's healthcheck defaults, for fields neither the service nor the
// image sets.
const (
	DefaultHealthInterval      = 30 * time.Second
	DefaultHealthTimeout       = 30 * time.Second
	DefaultHealthStartInterval = 5 * time.Second
	DefaultHealthRetries       = 3
)

// Resources are limits after compose's precedence: deploy.resources.limits
// (and reservations) win over the service-level keys.
type Resources struct {
	// MemoryLimit is in bytes; 0 is unlimited.
	MemoryLimit       int64
	MemoryReservation int64
	// MemorySwap is memory plus swap in bytes; 0: the engine's default
	// (Docker: twice MemoryLimit), -1: unlimited.
	MemorySwap       int64
	MemorySwappiness *int64
	OomKillDisable   bool
	OomScoreAdj      int
	// NanoCPUs is CPUs × 1e9, computed as docker compose computes it.
	NanoCPUs  int64
	CPUShares int64
	CPUQuota  int64 // µs per CPUPeriod
	CPUPeriod int64 // µs
	CPUSet    string
	// CPURealtimePeriod and CPURealtimeRuntime are µs.
	CPURealtimePeriod  int64
	CPURealtimeRuntime int64
	// PidsLimit nil: unlimited (the engine's default); -1 unlimited.
	PidsLimit *int64
	// ShmSize is /dev/shm's size in bytes; 0: 64 MiB.
	ShmSize      int64
	Ulimits      []Ulimit // sorted by name
	BlkioWeight  uint16
	CgroupParent string
}

// Ulimit is one resource limit, named as Docker names it ("nofile").
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// Security is privilege and confinement.
type Security struct {
	Privileged bool
	// CapAdd and CapDrop are as written: names with or without "CAP_",
	// or "ALL".
	CapAdd, CapDrop []string
	ReadonlyRootfs  bool
	NoNewPrivileges bool
	// Seccomp is "" for the default profile, "unconfined", or a profile's
	// JSON (security_opt seccomp=FILE, read relative to the project).
	Seccomp string
	// UnmaskPaths is security_opt systempaths=unconfined: no masked or
	// read-only paths.
	UnmaskPaths bool
	// Options are the other security_opt entries (apparmor=, label=),
	// which only an engine that knows them applies.
	Options []string
	Sysctls map[string]string
}

// Namespaces are the namespace modes: "" private, "host", or
// "container:<name>".
type Namespaces struct {
	IPC, PID, UTS, Cgroup, UserNS string
}

// MountType is the kind of a Mount.
type MountType string

// Mount types.
const (
	MountBind   MountType = "bind"
	MountVolume MountType = "volume"
	MountTmpfs  MountType = "tmpfs"
)

// Mount is one file system mount; Target is absolute and clean.
type Mount struct {
	Type MountType
	// Source is an absolute host path (bind), or an engine-level volume
	// name ("" for an anonymous volume).
	Source   string
	Target   string
	ReadOnly bool
	// Bind options (type bind).
	CreateHostPath bool
	Propagation    string
	SELinux        string
	// Recursive is "", "enabled", "disabled", "writable" or "readonly".
	Recursive string
	// Volume options (type volume).
	NoCopy       bool
	Subpath      string
	VolumeLabels map[string]string
	// Tmpfs options (type tmpfs).
	Tmpfs *Tmpfs
	// Secret or Config names the object a file mount comes from.
	Secret, Config string
}

// Tmpfs is a tmpfs mount's options. Every tmpfs is noexec, nosuid and
// nodev unless Exec (or the engine's options) say otherwise, as Docker's.
type Tmpfs struct {
	SizeBytes int64  // 0: the kernel's default (half the RAM)
	Mode      uint32 // 0: 01777
	// UID and GID own the tmpfs's root (uid=, gid=); 0 is root's, the
	// kernel's default.
	UID, GID int
	Exec     bool
	// FromKey marks a tmpfs: entry (not a volume of type tmpfs); Options
	// is its text after the path, which an engine that passes options on
	// (the Docker daemon) gives as is.
	FromKey bool
	Options string
}

// File is a file written into the container before it first starts.
type File struct {
	Path     string // absolute and clean
	Content  []byte
	Mode     os.FileMode
	UID, GID int
}

// Device is a host device given to the container (devices:).
type Device struct {
	HostPath string
	// Path is where it appears in the container; HostPath when empty.
	Path string
	// Permissions is a subset of "rwm"; "rwm" when empty.
	Permissions string
}

// NetworkMode is how the container is networked.
type NetworkMode string

// Network modes; a container of mode "" joins Attachments.
const (
	NetworkAttach NetworkMode = ""
	NetworkNone   NetworkMode = "none"
	NetworkHost   NetworkMode = "host"
	// NetworkBridge is the engine's default network (network_mode:
	// bridge with no compose network).
	NetworkBridge NetworkMode = "bridge"
)

// Network is how the container is networked.
type Network struct {
	// Mode is one of the constants, or "container:<name>".
	Mode NetworkMode
	// Attachments are the compose networks, by descending priority then
	// name: the first is the primary one.
	Attachments []Attachment
	DNS         []string
	DNSSearch   []string
	DNSOptions  []string
	// ExtraHosts are "name:address" lines (address may be
	// "host-gateway"), sorted.
	ExtraHosts []string
	// Ports are the published ports, as written (ranges unexpanded).
	Ports []Port
	// Expose are container ports only exposed (expose:), "80" or
	// "8000-8010/udp".
	Expose []string
}

// Attachment is one compose network the container joins.
type Attachment struct {
	// Network is the engine-level network name (<project>_<key>).
	Network string
	// Aliases are the names the container has on it: the service's name
	// (unless use_service_name_alias: false), aliases:, the hostname.
	Aliases    []string
	IPv4, IPv6 string
	MacAddress string
}

// Port is one published container port.
type Port struct {
	ContainerPort uint32
	Protocol      string // tcp or udp
	HostIP        string // "" all addresses
	// HostPort "" is a random port; "8080" or a range "8080-8090", one
	// port of which each container takes.
	HostPort string
	// Mode is compose's mode: "ingress" (Swarm's routing mesh), "host"
	// (the port of the node a task runs on), or "" (ingress); an engine
	// of one machine publishes on its host either way.
	Mode string
}

// Logging is the log driver and its options.
type Logging struct {
	Driver  string // "" the engine's default (json-file)
	Options map[string]string
}
