// Package swarm runs compose services on a Docker Swarm through a
// manager's Engine API: each compose service is a Swarm service, its
// networks overlay networks, its secrets and configs Swarm objects named
// after their content, all named and labelled as docker stack names them.
//
// It maps the container configuration compose.Resolve gives
// (runspec.Container and its Deploy section) and translates no compose
// itself. Its primitives are what an orchestrator needs to converge a
// project: apply a service only when its spec changed, wait until it
// runs (or, for a job, completed) with the tasks' real errors, list
// tasks, stream logs of every node, remove a project and wait until its
// tasks are gone, and check beforehand what would fail (Preflight,
// Unsupported).
package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/hoist-dev/hoist/engine/docker"
)

// swarmAPI is the subset of *client.Client this package calls, declared
// here so the dependency is visible and unit tests fake only what they
// use.
type swarmAPI interface {
	ClientVersion() string
	DaemonHost() string
	Close() error
	Info(ctx context.Context) (system.Info, error)

	ServiceList(ctx context.Context, options swarm.ServiceListOptions) ([]swarm.Service, error)
	ServiceInspectWithRaw(ctx context.Context, serviceID string, opts swarm.ServiceInspectOptions) (swarm.Service, []byte, error)
	ServiceCreate(ctx context.Context, service swarm.ServiceSpec, options swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error)
	ServiceUpdate(ctx context.Context, serviceID string, version swarm.Version, service swarm.ServiceSpec, options swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error)
	ServiceRemove(ctx context.Context, serviceID string) error
	ServiceLogs(ctx context.Context, serviceID string, options container.LogsOptions) (io.ReadCloser, error)
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
	// ContainerList is for the manager's own node only: the containers
	// outside the swarm whose ports preflight must know.
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	NodeList(ctx context.Context, options swarm.NodeListOptions) ([]swarm.Node, error)

	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, networkID string) error
	VolumeRemove(ctx context.Context, volumeID string, force bool) error

	ConfigList(ctx context.Context, options swarm.ConfigListOptions) ([]swarm.Config, error)
	ConfigCreate(ctx context.Context, config swarm.ConfigSpec) (swarm.ConfigCreateResponse, error)
	ConfigRemove(ctx context.Context, id string) error
	SecretList(ctx context.Context, options swarm.SecretListOptions) ([]swarm.Secret, error)
	SecretCreate(ctx context.Context, secret swarm.SecretSpec) (swarm.SecretCreateResponse, error)
	SecretRemove(ctx context.Context, id string) error

	DistributionInspect(ctx context.Context, imageRef, encodedRegistryAuth string) (registry.DistributionInspect, error)
}

var _ swarmAPI = (*client.Client)(nil)

// Errors a caller tells apart with errors.Is.
var (
	// ErrNotManager: the daemon is not a manager of an active swarm.
	ErrNotManager = errors.New("not a swarm manager")
	// ErrRolledBack: an update failed and Swarm rolled the service back.
	ErrRolledBack = errors.New("update rolled back")
	// ErrTaskFailed: a service's tasks fail (or a job's tasks failed).
	ErrTaskFailed = errors.New("tasks failed")
)

// Engine is a connection to a swarm manager.
type Engine struct {
	api swarmAPI
	// cli is the same client, for the docker engine's builder and
	// pusher (nil in unit tests).
	cli *client.Client
	// keychain finds registry credentials; nil is the user's docker
	// config (authn.DefaultKeychain).
	keychain   authn.Keychain
	apiVersion string
	// Poll is how often waits look at the swarm: Swarm's API has no
	// events for task states.
	Poll time.Duration
}

// New connects to the swarm manager the user points at, as the docker
// engine finds its daemon (DOCKER_HOST, docker contexts, TLS), and fails
// clearly when that daemon is not a manager of an active swarm.
func New(ctx context.Context) (*Engine, error) {
	cli, err := docker.Connect(ctx)
	if err != nil {
		return nil, err
	}
	e := &Engine{api: cli, cli: cli, apiVersion: cli.ClientVersion(), Poll: 200 * time.Millisecond}
	if _, err := e.checkManager(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	return e, nil
}

// checkManager says what the daemon is when it is not a manager, and
// returns its info when it is.
func (e *Engine) checkManager(ctx context.Context) (system.Info, error) {
	info, err := e.api.Info(ctx)
	if err != nil {
		return info, fmt.Errorf("docker info: %w", err)
	}
	host := e.api.DaemonHost()
	switch {
	case info.Swarm.LocalNodeState != swarm.LocalNodeStateActive:
		return info, fmt.Errorf("the Docker Engine at %s is not in a swarm (its state is %q): %w; run docker swarm init there, or point DOCKER_HOST at a manager",
			host, orNone(string(info.Swarm.LocalNodeState)), ErrNotManager)
	case !info.Swarm.ControlAvailable:
		return info, fmt.Errorf("the Docker Engine at %s is a swarm worker: %w; point DOCKER_HOST at a manager (docker node ls on one lists them)", host, ErrNotManager)
	}
	return info, nil
}

func orNone(s string) string {
	if s == "" {
		return "inactive"
	}
	return s
}

// Name returns "swarm".
func (e *Engine) Name() string { return "swarm" }

// APIVersion is the Engine API version spoken with the manager.
func (e *Engine) APIVersion() string { return e.apiVersion }

// Close releases the connection; the swarm's objects stay.
func (e *Engine) Close() error { return e.api.Close() }

func (e *Engine) poll() time.Duration {
	if e.Poll <= 0 {
		return 200 * time.Millisecond
	}
	return e.Poll
}
