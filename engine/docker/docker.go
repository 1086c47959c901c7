// Package docker implements engine.Backend on the Docker Engine API. It uses
// docker compose's labels and names so that hoist and docker compose see
// each other's containers, networks and volumes.
package docker

import (
	"context"
	"io"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/hoist-dev/hoist/engine"
)

// dockerAPI is the subset of *client.Client this package calls. Declaring
// it here keeps the dependency visible and lets unit tests fake only what
// they exercise.
type dockerAPI interface {
	ClientVersion() string
	Close() error

	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, name string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, id string, options container.StartOptions) error
	ContainerStop(ctx context.Context, id string, options container.StopOptions) error
	ContainerRemove(ctx context.Context, id string, options container.RemoveOptions) error
	ContainerKill(ctx context.Context, id, signal string) error
	ContainerPause(ctx context.Context, id string) error
	ContainerUnpause(ctx context.Context, id string) error
	ContainerStatsOneShot(ctx context.Context, id string) (container.StatsResponseReader, error)
	ContainerExport(ctx context.Context, id string) (io.ReadCloser, error)
	ContainerCommit(ctx context.Context, id string, options container.CommitOptions) (container.CommitResponse, error)
	ContainerLogs(ctx context.Context, id string, options container.LogsOptions) (io.ReadCloser, error)
	ContainerTop(ctx context.Context, id string, arguments []string) (container.TopResponse, error)
	ContainerExecCreate(ctx context.Context, id string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, options container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
	ContainerExecResize(ctx context.Context, execID string, options container.ResizeOptions) error
	ContainerAttach(ctx context.Context, id string, options container.AttachOptions) (types.HijackedResponse, error)
	ContainerResize(ctx context.Context, id string, options container.ResizeOptions) error
	ContainerWait(ctx context.Context, id string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)

	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, id string) error
	NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error

	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	VolumeInspect(ctx context.Context, id string) (volume.Volume, error)
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeRemove(ctx context.Context, id string, force bool) error

	ImageList(ctx context.Context, options image.ListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, ref string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ImagePull(ctx context.Context, ref string, options image.PullOptions) (io.ReadCloser, error)
	ImagePush(ctx context.Context, ref string, options image.PushOptions) (io.ReadCloser, error)
	ImageRemove(ctx context.Context, ref string, options image.RemoveOptions) ([]image.DeleteResponse, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	CopyToContainer(ctx context.Context, containerID, dstPath string, content io.Reader, options container.CopyToContainerOptions) error
	ContainerStatPath(ctx context.Context, containerID, path string) (container.PathStat, error)
	CopyFromContainer(ctx context.Context, containerID, srcPath string) (io.ReadCloser, container.PathStat, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (image.LoadResponse, error)
	ImageImport(ctx context.Context, source image.ImportSource, ref string, options image.ImportOptions) (io.ReadCloser, error)
}

var _ dockerAPI = (*client.Client)(nil)

// The engine's optional abilities (engine/engine.go).
var (
	_ engine.Builder        = (*Backend)(nil)
	_ engine.Execer         = (*Backend)(nil)
	_ engine.Killer         = (*Backend)(nil)
	_ engine.ImageRemover   = (*Backend)(nil)
	_ engine.Pusher         = (*Backend)(nil)
	_ engine.Runner         = (*Backend)(nil)
	_ engine.StopWaiter     = (*Backend)(nil)
	_ engine.Syncer         = (*Backend)(nil)
	_ engine.Copier         = (*Backend)(nil)
	_ engine.ImageInspector = (*Backend)(nil)
	_ engine.ComposeSharer  = (*Backend)(nil)
	_ engine.ImageLoader    = (*Backend)(nil)
	_ engine.ImageImporter  = (*Backend)(nil)
	_ engine.ImageLister    = (*Backend)(nil)
	_ engine.ProjectLister  = (*Backend)(nil)
	_ engine.Toper          = (*Backend)(nil)
	_ engine.Unsupporter    = (*Backend)(nil)
	_ engine.RemovalLimiter = (*Backend)(nil)
)

// Backend is the Docker Engine implementation of engine.Backend and of the
// optional Builder, Execer, Killer, ImageRemover, Pusher and Toper.
type Backend struct {
	api dockerAPI
}

var (
	_ engine.Backend       = (*Backend)(nil)
	_ engine.Builder       = (*Backend)(nil)
	_ engine.Execer        = (*Backend)(nil)
	_ engine.Killer        = (*Backend)(nil)
	_ engine.ImageRemover  = (*Backend)(nil)
	_ engine.Pusher        = (*Backend)(nil)
	_ engine.Toper         = (*Backend)(nil)
	_ engine.ImageLoader   = (*Backend)(nil)
	_ engine.ImageImporter = (*Backend)(nil)
	_ engine.ImageLister   = (*Backend)(nil)
	_ engine.Pauser        = (*Backend)(nil)
	_ engine.StatsReader   = (*Backend)(nil)
	_ engine.Exporter      = (*Backend)(nil)
	_ engine.Committer     = (*Backend)(nil)
	_ engine.EventStreamer = (*Backend)(nil)
	_ engine.Attacher      = (*Backend)(nil)
)

// New connects to the Docker Engine the user points at (see Connect).
func New(ctx context.Context) (*Backend, error) {
	cli, err := Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &Backend{api: cli}, nil
}

// FromClient is a backend on a client made by Connect (or a client
// another engine holds, as the swarm engine builds on one of its nodes).
// Close closes cli.
func FromClient(cli *client.Client) *Backend { return &Backend{api: cli} }

// Name returns "docker".
func (b *Backend) Name() string { return "docker" }

// Close releases the client's connections.
func (b *Backend) Close() error { return b.api.Close() }

// MaxParallelRemovals caps concurrent removals: removing ~50 containers at
// once can leave phantom endpoints on a network in Engine 20.10
// (moby#42119).
func (b *Backend) MaxParallelRemovals() int { return 8 }
