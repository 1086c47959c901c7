package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/runspec"
)

// ServiceRunner is an engine that runs services, not containers: a
// cluster (Docker Swarm) whose manager places each service's tasks on its
// nodes and keeps them running. It is not a Backend, whose calls are one
// container each: orchestrate drives a ServiceRunner on a path of its own
// (depends_on as rollout order, waits on task states), and refuses the
// container-level commands (exec, cp, start, ...) on it.
//
// Every call is idempotent: ApplyService with an unchanged spec sends
// nothing, so a redeploy of an unchanged project changes nothing.
type ServiceRunner interface {
	// Name is the engine's name ("swarm").
	Name() string
	// CheckServices says, before anything is made, what of the services
	// the engine cannot honour as written and what would fail on this
	// cluster (no node for a placement, an unreachable registry, a port
	// taken, ...). An error is a failure to look.
	CheckServices(ctx context.Context, project string, services []ServiceSpec) ([]ServiceProblem, error)
	// PrepareNetwork creates a project network unless the cluster has
	// it; with external set it only checks that the network exists and
	// can carry services.
	PrepareNetwork(ctx context.Context, spec NetworkSpec, external bool) error
	// PinImage returns what s's tasks run. A service with build: has its
	// image built and pushed as build says, and named by the registry's
	// digest, so that every node runs the same bytes ("" when build is
	// BuildNever and the registry lacks it); another service's image is
	// returned as it is.
	PinImage(ctx context.Context, s ServiceSpec, build BuildPolicy, progress func(string)) (string, error)
	// ApplyService makes the cluster run s (with s.Image pinned): it
	// creates the service, updates it when its spec changed, and sends
	// nothing when it did not. With dryRun it only says which.
	ApplyService(ctx context.Context, s ServiceSpec, dryRun bool) (ServiceChange, error)
	// WaitService blocks until the service converged: its tasks of the
	// current spec run (healthy where they have a healthcheck), or, for a
	// job, completed. It fails with the tasks' errors, or when the
	// update was rolled back (errors.Is ErrRolledBack of the engine).
	WaitService(ctx context.Context, project, service string, progress func(ServiceProgress)) error
	// PruneObjects removes the project's configs and secrets that no
	// service uses any more (after a change rotated them) and names them.
	PruneObjects(ctx context.Context, project string) ([]string, error)
	// ServiceTasks lists the tasks of the project's services on every
	// node, the ended ones too (for their errors).
	ServiceTasks(ctx context.Context, project string) ([]ServiceTask, error)
	// ServiceLogs copies the output of the services' tasks (all when
	// services is empty) from every node, each line prefixed with its
	// task (service.slot@node).
	ServiceLogs(ctx context.Context, project string, services []string, opts LogOptions, stdout, stderr io.Writer) error
	// UpdateService scales a service or replaces its tasks.
	UpdateService(ctx context.Context, project, service string, u ServiceUpdate) error
	// RemoveProject removes the project's services, waits until their
	// tasks are gone from the nodes, then removes its networks, configs
	// and secrets, and the named volumes where it can reach them (the
	// rest it names, with the nodes that hold them).
	RemoveProject(ctx context.Context, project string, volumes []string) (ServiceRemoval, error)
	// ServiceProjects lists the projects (stacks) on the cluster.
	ServiceProjects(ctx context.Context) ([]ProjectSummary, error)
	Close() error
}

// ServiceSpec is one compose service as a ServiceRunner deploys it: its
// configuration resolved once (compose.ResolveWith, Deploy included).
type ServiceSpec struct {
	Project string
	Name    string
	Config  runspec.Container
	// Image is what the tasks run when it differs from Config.Image: the
	// repo:tag@digest PinImage gave.
	Image string
	// Build is the service's build: section, nil without one.
	Build *BuildSpec
	// ContainerName is compose's container_name, which a cluster names
	// itself; kept only to say so.
	ContainerName string
	// Volumes are the project's named volumes by engine-level name.
	Volumes map[string]VolumeSpec
}

// BuildPolicy says when PinImage builds a service's image.
type BuildPolicy int

// Build policies.
const (
	// BuildMissing builds when the registry lacks the image (up).
	BuildMissing BuildPolicy = iota
	// BuildAlways builds (up --build); an unchanged image keeps its
	// digest, so its services are not updated.
	BuildAlways
	// BuildNever only asks the registry (up --no-build, --dry-run).
	BuildNever
)

// ServiceChange is what ApplyService did (or, dry, would do) to a service.
type ServiceChange struct {
	Service string
	// Change is "created", "updated" or "unchanged".
	Change string
}

// ServiceUpdate is a change of a running service that is not a change of
// its compose file.
type ServiceUpdate struct {
	// Replicas, when set, scales the service.
	Replicas *uint64
	// Restart replaces every task (a forced update).
	Restart bool
}

// ServiceRemoval is what RemoveProject removed.
type ServiceRemoval struct {
	Services, Networks, Configs, Secrets []string
	// Volumes are the volumes removed: each node holds its own copy of
	// a volume, and these were on the node the engine reaches.
	Volumes []string
	// VolumesLeft names, by volume, the nodes (hostnames) whose copy
	// the engine cannot reach, so it is left there.
	VolumesLeft map[string][]string
}

// ServiceProblem is something of a service a ServiceRunner cannot honour
// as written, or that would fail on its cluster. Nothing is dropped
// silently: each is an error, or a warning where ignoring it leaves the
// service working (up --strict makes warnings errors too).
type ServiceProblem struct {
	// Service is the compose service's name.
	Service string
	// Path is the compose key below the service (["deploy",
	// "resources"]), so that the caller gives its file and line.
	Path    []string
	Msg     string
	Hint    string
	Warning bool
}

func (p ServiceProblem) String() string {
	kind := "error"
	if p.Warning {
		kind = "warning"
	}
	s := fmt.Sprintf("%s: service %q: %s: %s", kind, p.Service, strings.Join(p.Path, "."), p.Msg)
	if p.Hint != "" {
		s += "; " + p.Hint
	}
	return s
}

// ServiceProgress is a service's state while WaitService follows it.
type ServiceProgress struct {
	Service string // compose name
	// Running counts tasks of the current spec that run (healthy, where
	// they have a healthcheck); Completed counts a job's completed tasks.
	Running, Desired, Completed uint64
	// Job is set for a job, whose progress is its completions.
	Job bool
	// Update is the cluster's update state ("updating",
	// "rollback_started", ...), "" when no update ran.
	Update string
	// Problem is the newest task error, when there is one.
	Problem string
}

// String is the progress line: "web 2/3 running", "migrate 1/1
// completed", with the update state and the newest task error.
func (p ServiceProgress) String() string {
	s := fmt.Sprintf("%s %d/%d running", p.Service, p.Running, p.Desired)
	if p.Job {
		s = fmt.Sprintf("%s %d/%d completed", p.Service, p.Completed, p.Desired)
	}
	if p.Update != "" && p.Update != "completed" {
		s += " (" + strings.ReplaceAll(p.Update, "_", " ") + ")"
	}
	if p.Problem != "" {
		s += ": " + p.Problem
	}
	return s
}

// ServiceTask is one task of a project's service, as `hoist ps` shows it.
type ServiceTask struct {
	ID      string
	Service string // the compose service's name
	// Slot is the replica's number (0 for a global service's tasks).
	Slot   int
	NodeID string
	// Node is the node's hostname.
	Node string
	// State is the cluster's: new, pending, ..., running, complete,
	// failed, rejected, shutdown.
	State        string
	DesiredState string
	// Error is the task's error (no such image, no suitable node, a
	// non-zero exit, an unhealthy container).
	Error    string
	ExitCode int
	// Ports are those published on the task's node (mode: host).
	Ports       []PortBinding
	Image       string
	ContainerID string
	// Created is when the task was made; Updated when its state last
	// changed.
	Created, Updated time.Time
}

// Name is the task's name as docker names it: service.slot, or
// service.node-id for a global service's task.
func (t ServiceTask) Name() string {
	if t.Slot > 0 {
		return fmt.Sprintf("%s.%d", t.Service, t.Slot)
	}
	return t.Service + "." + t.NodeID
}
