// Package engine defines what hoist needs from a container engine. It holds
// only interfaces and plain data so that the planner and the CLI never depend
// on a particular backend (docker, native).
package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/hoist-dev/hoist/runspec"
)

// Error kinds every backend returns, wrapped, so callers use errors.Is.
var (
	ErrNotFound       = errors.New("not found")
	ErrConflict       = errors.New("conflict")
	ErrNotImplemented = errors.New("not implemented")
)

// Labels shared with docker compose so that both tools see each other's
// containers, networks and volumes.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelConfigHash  = "com.docker.compose.config-hash"
	LabelOneOff      = "com.docker.compose.oneoff"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelImage       = "com.docker.compose.image"
	LabelDependsOn   = "com.docker.compose.depends_on"
	LabelVersion     = "com.docker.compose.version"
	// LabelEngine records which tool created an object; informative only.
	LabelEngine = "dev.hoist.engine"
)

// Backend is the small core every engine implements. Optional abilities
// (Builder, Execer, Killer, ...) are separate interfaces found by type
// assertion.
type Backend interface {
	// Name is "docker" or "native".
	Name() string
	// Observe lists every container, network and volume labelled with the
	// project, plus the IDs of the images the caller asks about.
	Observe(ctx context.Context, project string, imageRefs []string) (*State, error)
	Images
	Networks
	Volumes
	Containers
	// Close releases connections; the engine's objects stay.
	Close() error
}

// Images is the part of a backend that resolves and fetches images.
type Images interface {
	// ImageID returns the local ID of ref, or an error wrapping ErrNotFound.
	ImageID(ctx context.Context, ref string) (string, error)
	// Pull fetches ref from its registry. progress may be nil.
	Pull(ctx context.Context, ref string, progress func(msg string)) error
}

// Networks creates and removes project networks.
type Networks interface {
	// CreateNetwork returns an error wrapping ErrConflict if it exists.
	CreateNetwork(ctx context.Context, spec NetworkSpec) error
	// RemoveNetwork returns an error wrapping ErrNotFound if it is absent.
	RemoveNetwork(ctx context.Context, name string) error
}

// Volumes creates and removes named volumes.
type Volumes interface {
	CreateVolume(ctx context.Context, spec VolumeSpec) error
	RemoveVolume(ctx context.Context, name string) error
}

// Containers is the container lifecycle.
type Containers interface {
	// CreateContainer creates (does not start) a container and returns its ID.
	CreateContainer(ctx context.Context, spec ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal and kills after timeout.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer removes a container; with Force a running one is killed first.
	RemoveContainer(ctx context.Context, id string, opts RemoveOptions) error
	// Wait blocks until the container reaches cond, driven by engine events
	// where the engine has them. It fails if the condition can no longer be
	// met (for example the container exited while waiting to be healthy).
	Wait(ctx context.Context, id string, cond WaitCondition) (Container, error)
	// Logs copies the container's output to stdout and stderr until the
	// logs end (or, with Follow, until the container stops or ctx ends).
	Logs(ctx context.Context, id string, opts LogOptions, stdout, stderr io.Writer) error
}

// Builder builds images from a build context.
type Builder interface {
	// Build builds spec and returns the image ID; the image is tagged spec.Tag.
	Build(ctx context.Context, spec BuildSpec, progress func(msg string)) (string, error)
}

// Execer runs a command in a running container.
type Execer interface {
	// Exec returns the command's exit code.
	Exec(ctx context.Context, id string, spec ExecSpec) (int, error)
}

// Killer sends a signal to a container's main process.
type Killer interface {
	Kill(ctx context.Context, id string, signal string) error
}

// ImageRemover removes a local image.
type ImageRemover interface {
	RemoveImage(ctx context.Context, ref string, force bool) error
}

// Pusher pushes a local image to its registry.
type Pusher interface {
	Push(ctx context.Context, ref string, progress func(msg string)) error
}

// Runner runs a one-off container attached to the caller in one call:
// create, run to completion with its output streamed, and remove it when
// Remove is set. An engine that can skip its detached machinery for this
// (the native engine's monitor) makes `run --rm` much faster.
type Runner interface {
	RunContainer(ctx context.Context, spec ContainerSpec, opts RunAttach) (exitCode int, err error)
}

// RunAttach are the streams and options of Runner.RunContainer.
type RunAttach struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Remove bool
	// TTY gives the command a terminal of size Size (its output all on
	// Stdout); each value of Resize, when set, resizes it.
	TTY    bool
	Size   WinSize
	Resize <-chan WinSize
}

// StopWaiter waits for a container to stop as docker compose's wait
// counts stops: an exit its restart policy answers with a restart is one
// too, where Containers.Wait waits for an exit for good.
type StopWaiter interface {
	// WaitStop returns the container at its next exit, with that exit's
	// code, or at once when it is not running (exited, or restarting
	// after an exit). It is driven by the engine's events.
	WaitStop(ctx context.Context, id string) (Container, error)
}

// Unsupporter tells which parts of a container configuration the engine
// does not apply, so that up warns once, naming them, instead of
// silently dropping them.
type Unsupporter interface {
	// Unsupported names what of c the engine ignores.
	Unsupported(c runspec.Container) []string
}

// RemovalLimiter is an engine that cannot take many removals at once:
// removing ~50 containers together can leave phantom endpoints on a
// network in Docker Engine 20.10 (moby#42119).
type RemovalLimiter interface {
	// MaxParallelRemovals bounds the removals down runs at once.
	MaxParallelRemovals() int
}

// ComposeSharer is an engine whose objects docker compose manages too (the
// Docker Engine): its containers carry docker compose's own config hash
// and image label, so that each tool finds the other's containers up to
// date.
type ComposeSharer interface {
	// DockerComposeImage is what docker compose records as
	// com.docker.compose.image for the local image ref (the image's
	// identity, which it compares to decide a recreate).
	DockerComposeImage(ctx context.Context, ref string) (string, error)
}

// ProjectLocker serialises concurrent ups of a project, across
// processes: up holds the lock throughout.
type ProjectLocker interface {
	LockProject(ctx context.Context, project string) (unlock func(), err error)
}

// ProjectTearer is an engine that keeps per-project state besides its
// containers, networks and volumes (the native engine's supervisor and
// network state): down removes it last, once they are all gone.
type ProjectTearer interface {
	TeardownProject(ctx context.Context, project string) error
}

// ProcessStopper is an engine whose StopContainer also releases what
// RemoveContainer releases anyway (the native engine's mounts and
// network): when the container is removed next, down only stops its
// processes, so that a dependency's stop does not wait for its
// dependents' releases.
type ProcessStopper interface {
	// StopProcesses stops the container as StopContainer does and
	// leaves the rest to RemoveContainer.
	StopProcesses(ctx context.Context, id string, timeout time.Duration) error
}

// Syncer writes host files into a running container (develop.watch).
type Syncer interface {
	// Sync applies the changes in order. It never writes outside a
	// change's ContainerPath, even through symlinks inside the container.
	Sync(ctx context.Context, id string, changes []SyncChange) error
}

// SyncChange is one file to copy into, or delete from, a container.
type SyncChange struct {
	HostPath      string // absolute; ignored when Deleted
	ContainerPath string // absolute, inside the container
	// Root is the watch rule's target: ContainerPath is under it, and no
	// directory between Root and ContainerPath may be a symlink.
	Root    string
	Deleted bool
}

// Copier copies files into and out of a container, running or stopped,
// as the Engine API's archive endpoints do. docker cp's path rules are
// not the engine's: package filecopy applies them over these three.
type Copier interface {
	// StatPath describes path in the container's file system (its
	// root and mounts) without following its last component.
	StatPath(ctx context.Context, id, path string) (PathStat, error)
	// CopyFrom returns a tar stream of path, its top entry named as
	// path's last component: a file, a symlink as a symlink, or a
	// directory with all it holds.
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, PathStat, error)
	// CopyTo extracts the tar stream content into dir, an existing
	// directory of the container. Symlinks in the container are
	// followed only inside it.
	CopyTo(ctx context.Context, id, dir string, content io.Reader, opts CopyToOptions) error
}

// PathStat describes a file in a container.
type PathStat struct {
	Name  string
	Size  int64
	Mode  os.FileMode
	Mtime time.Time
	// LinkTarget is a symlink's target: as the link says it (relative
	// to the link's directory when not absolute), or, from the Engine
	// API, already resolved in the container.
	LinkTarget string
}

// CopyToOptions control Copier.CopyTo.
type CopyToOptions struct {
	// CopyUIDGID gives the files the container's user (when it has one)
	// instead of the archive's owners (docker cp -a).
	CopyUIDGID bool
}

// ImageInspector describes a local image.
type ImageInspector interface {
	InspectImage(ctx context.Context, ref string) (ImageDetail, error)
}

// ImageDetail is an image's identity and run configuration, the same fields
// on every engine.
type ImageDetail struct {
	ID           string            `json:"Id"`
	Ref          string            `json:"Ref"`
	Created      time.Time         `json:"Created"`
	Size         int64             `json:"Size"`
	Env          []string          `json:"Env"`
	Entrypoint   []string          `json:"Entrypoint"`
	Cmd          []string          `json:"Cmd"`
	WorkingDir   string            `json:"WorkingDir"`
	User         string            `json:"User"`
	ExposedPorts []string          `json:"ExposedPorts"`
	Volumes      []string          `json:"Volumes"`
	Labels       map[string]string `json:"Labels"`
	StopSignal   string            `json:"StopSignal"`
	Healthcheck  []string          `json:"Healthcheck"`
	DiffIDs      []string          `json:"DiffIDs"`
	History      []string          `json:"History"` // created_by of each step
}

// ImageLoader loads images from a `docker save` or OCI layout archive.
type ImageLoader interface {
	LoadImages(ctx context.Context, r io.Reader, progress func(msg string)) ([]string, error)
}

// ImageImporter creates an image from a root filesystem tarball, like
// `docker import`; changes are Dockerfile instructions (CMD, ENV, ...).
type ImageImporter interface {
	ImportImage(ctx context.Context, r io.Reader, ref string, changes []string) (string, error)
}

// ImageLister lists local images.
type ImageLister interface {
	ListImages(ctx context.Context) ([]ImageSummary, error)
}

// ImageSummary describes one local image reference.
type ImageSummary struct {
	Ref     string
	ID      string
	Size    int64
	Created time.Time
}

// ProjectLister lists the projects an engine holds containers for.
type ProjectLister interface {
	Projects(ctx context.Context) ([]ProjectSummary, error)
}

// ProjectSummary is one project seen by an engine.
type ProjectSummary struct {
	Name        string
	Running     int
	Total       int
	ConfigFiles string
}

// Toper lists the processes of a container.
type Toper interface {
	Top(ctx context.Context, id string) (titles []string, rows [][]string, err error)
}

// Pauser suspends and resumes every process of a running container
// (docker pause and unpause; the cgroup freezer). A paused container's
// State is StatePaused; exec into it is an ErrConflict; stop, kill with
// SIGKILL and forced removal work on it.
type Pauser interface {
	// Pause is an ErrConflict when the container is not running or
	// already paused.
	Pause(ctx context.Context, id string) error
	// Unpause is an ErrConflict when the container is not paused.
	Unpause(ctx context.Context, id string) error
}

// StatsReader reads a running container's resource counters once
// (docker stats); rates come from two reads.
type StatsReader interface {
	// Stats is an ErrConflict when the container is not running.
	Stats(ctx context.Context, id string) (Stats, error)
}

// Stats are a container's counters at Read, as docker stats shows them.
type Stats struct {
	Read time.Time
	// CPUNanos is the CPU time its processes used so far.
	CPUNanos uint64
	// MemoryUsage leaves out the inactive page cache, as docker stats
	// does; MemoryLimit is its limit, or the host's memory without one.
	MemoryUsage, MemoryLimit uint64
	// NetRx and NetTx are the bytes its network interfaces received and
	// sent; BlockRead and BlockWrite the bytes read from and written to
	// block devices (0 where the engine does not account them).
	NetRx, NetTx          uint64
	BlockRead, BlockWrite uint64
	Pids                  uint64
}

// Exporter streams a container's file system (docker export).
type Exporter interface {
	// Export is a tar of the container's root file system: its image's
	// layers and its writable layer, without its volumes and binds.
	// Closing it releases what the export held (a running container is
	// as it was before once Close returns).
	Export(ctx context.Context, id string) (io.ReadCloser, error)
}

// Committer makes an image of a container (docker commit).
type Committer interface {
	// Commit stores the container's writable layer as a new layer on its
	// image, with the container's configuration (command, environment,
	// working dir, user, labels) and opts.Changes applied, tagged
	// opts.Ref when set, and returns the image's ID.
	Commit(ctx context.Context, id string, opts CommitOptions) (string, error)
}

// CommitOptions are docker commit's.
type CommitOptions struct {
	Ref string
	// Changes are Dockerfile instructions (CMD, ENV, LABEL, ...).
	Changes []string
	Message string
	Author  string
	// Pause freezes a running container while its layer is read.
	Pause bool
}

// EventStreamer streams the container events of a project (docker
// compose events).
type EventStreamer interface {
	// Events calls fn with each event of the project's containers, as
	// they happen, until ctx ends; Since (docker only) replays the
	// engine's past events from then on.
	Events(ctx context.Context, project string, opts EventOptions, fn func(ContainerEvent)) error
}

// EventOptions control EventStreamer.Events.
type EventOptions struct {
	Since time.Time
}

// ContainerEvent is one event of a container, named as the Engine API
// names them: create, start, die, health_status: healthy, destroy, ...
type ContainerEvent struct {
	Time    time.Time
	ID      string
	Service string
	OneOff  bool
	Action  string
	// Attributes are the container's name and image, its labels, and
	// per action more (exitCode on die).
	Attributes map[string]string
}

// Attacher connects to a running container's main process (docker
// attach).
type Attacher interface {
	// Attach copies the container's output from now on to Stdout and
	// Stderr (all to Stdout with a TTY) and, when Stdin is set and the
	// container keeps its input open (stdin_open or tty), Stdin to its
	// input, which stays open after. It returns the exit code when the
	// container stops, or ctx's error when ctx ends first (a detach: the
	// container runs on). A container that is not running is an
	// ErrConflict.
	Attach(ctx context.Context, id string, streams AttachStreams) (exitCode int, err error)
}

// AttachStreams are Attacher.Attach's streams.
type AttachStreams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// WaitCondition is what Wait waits for.
type WaitCondition int

const (
	// WaitRunning returns once the container is running.
	WaitRunning WaitCondition = iota
	// WaitHealthy returns once the healthcheck passes (or at once when the
	// container is running and has no healthcheck).
	WaitHealthy
	// WaitExited returns once the container has exited; ExitCode is set.
	WaitExited
)

func (c WaitCondition) String() string {
	switch c {
	case WaitRunning:
		return "running"
	case WaitHealthy:
		return "healthy"
	case WaitExited:
		return "exited"
	}
	return "unknown"
}

// State is what an engine holds for one project.
type State struct {
	Containers []Container
	Networks   []Network
	Volumes    []Volume
	// ImageIDs maps each image reference the caller asked about to its local
	// ID; a missing key means the image is not present.
	ImageIDs map[string]string
}

// Container states, as Docker names them.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateExited     = "exited"
	StateDead       = "dead"
)

// Health values; empty means the container has no healthcheck.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Container is an observed container.
type Container struct {
	ID         string
	Name       string
	Project    string
	Service    string
	Number     int
	OneOff     bool
	ConfigHash string
	Image      string // the reference it was created from
	ImageID    string
	State      string
	Health     string
	ExitCode   int
	Created    time.Time
	Ports      []PortBinding
	Networks   []string
	Labels     map[string]string
}

// Active reports whether the container has processes to stop: running,
// restarting or paused. The others (created, exited, dead) are stopped.
func (c Container) Active() bool {
	return c.State == StateRunning || c.State == StateRestarting || c.State == StatePaused
}

// PortBinding is one published port.
type PortBinding struct {
	HostIP        string
	HostPort      uint16
	ContainerPort uint16
	Protocol      string // tcp or udp
}

// Network is an observed network.
type Network struct {
	ID     string
	Name   string
	Labels map[string]string
}

// Volume is an observed volume.
type Volume struct {
	Name   string
	Labels map[string]string
	// Driver and Mountpoint are what docker volume ls shows.
	Driver     string
	Mountpoint string
}

// NetworkSpec describes a network to create. Name is the engine-level name
// (for example "myapp_default").
type NetworkSpec struct {
	Name     string
	Project  string
	Key      string // the key in the compose file ("default")
	Driver   string
	Internal bool
	Labels   map[string]string
	Subnets  []string // CIDRs, from ipam config or netplan
	Options  map[string]string
}

// VolumeSpec describes a named volume to create.
type VolumeSpec struct {
	Name    string
	Project string
	Key     string
	Driver  string
	Labels  map[string]string
	Options map[string]string
}

// ContainerSpec is everything an engine needs to create one container:
// where it belongs and its configuration, resolved from the compose
// service once (compose.Resolve), which the engine maps to its own API
// and adds none of compose's rules to.
type ContainerSpec struct {
	Project    string
	ProjectDir string
	Service    string
	Name       string
	Number     int
	OneOff     bool
	Config     runspec.Container
}

// File is a file an engine writes into a container it creates.
type File = runspec.File

// RemoveOptions control RemoveContainer.
type RemoveOptions struct {
	Force   bool // kill a running container first
	Volumes bool // remove its anonymous volumes
}

// LogOptions control Logs.
type LogOptions struct {
	Follow bool
	Tail   string // "all" or a number
	// Since and Until bound the lines shown by time: a duration before now
	// (10m), an RFC 3339 time or Unix seconds, as docker's flags.
	Since      string
	Until      string
	Timestamps bool
}

// BuildSpec describes one image build.
type BuildSpec struct {
	Tag        string
	Service    string
	Context    string // an absolute directory
	Dockerfile string // relative to Context, or absolute
	Inline     string // dockerfile_inline, used when set
	Args       map[string]*string
	Target     string
	Labels     map[string]string
	NoCache    bool
	Pull       bool
	// Network is compose's build.network: the network of the RUN steps
	// ("" or "default": the builder's own, a namespace on a bridge with
	// outbound NAT; "host"; "none"). "host" also allows RUN --network=host,
	// as BuildKit's network.host entitlement.
	Network string
	// Entitlements are compose's build.entitlements; "network.host"
	// allows RUN --network=host without making it every step's network.
	Entitlements []string
}

// ExecSpec describes a command to run in a running container.
type ExecSpec struct {
	Cmd     []string
	User    string
	WorkDir string
	Env     []string
	// TTY gives the command a terminal of size Size; its output is all
	// on Stdout. Each value of Resize, when set, resizes the terminal
	// until the command ends.
	TTY    bool
	Size   WinSize
	Resize <-chan WinSize
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// WinSize is a terminal's size in characters.
type WinSize struct {
	Rows, Cols uint16
}
