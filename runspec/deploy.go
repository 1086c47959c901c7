package runspec

import (
	"os"
	"time"
)

// Deploy is what an engine that runs a service as replicated tasks over
// many machines (Swarm, later Kubernetes) needs beyond one container's
// configuration: compose's deploy section, resolved, and the service's
// secrets and configs as named objects. An engine of one machine reads
// none of it: the orchestrator's scale is its replicas, and Container
// already says how a secret reaches the container.
type Deploy struct {
	Mode DeployMode
	// Replicas is the resolved scale (scale:, deploy.replicas, or 1). A
	// job runs this many completions, this many at a time; a global
	// service ignores it.
	Replicas int
	// Labels are deploy.labels: the service's own, not its containers'.
	Labels    map[string]string
	Resources DeployResources
	// Restart is nil when neither restart: nor deploy.restart_policy is
	// set: the engine's default (Swarm restarts any task that ends).
	Restart *DeployRestart
	// Update and Rollback are nil when the section is absent: the
	// engine's defaults.
	Update, Rollback *UpdatePolicy
	Placement        Placement
	// EndpointMode is "vip", "dnsrr", or "" (the engine's default, vip).
	EndpointMode string
	// Secrets and Configs are the objects the service uses, in the
	// service's order.
	Secrets, Configs []ObjectRef
}

// DeployMode is how many tasks a service runs and whether they end.
type DeployMode string

// Deploy modes, as compose spells them.
const (
	ModeReplicated    DeployMode = "replicated"
	ModeGlobal        DeployMode = "global"
	ModeReplicatedJob DeployMode = "replicated-job"
	ModeGlobalJob     DeployMode = "global-job"
)

// Job reports whether the mode's tasks run to completion.
func (m DeployMode) Job() bool { return m == ModeReplicatedJob || m == ModeGlobalJob }

// DeployResources are what a scheduler counts. Limits are the ones of
// Container.Resources (deploy.resources.limits over cpus, mem_limit and
// pids_limit), copied so that the scheduler's view is whole in one place.
type DeployResources struct {
	Limits       ResourceAmounts
	Reservations ResourceAmounts
	// Generic are deploy.resources.reservations.generic_resources
	// (discrete ones, as "SSD" 2), sorted by kind.
	Generic []GenericResource
}

// ResourceAmounts is a quantity of each resource; zero is none.
type ResourceAmounts struct {
	NanoCPUs    int64
	MemoryBytes int64
	Pids        int64
}

// GenericResource is a node resource counted by kind.
type GenericResource struct {
	Kind  string
	Value int64
}

// RestartCondition is when a task that ended is replaced, as Swarm names
// it.
type RestartCondition string

// Restart conditions.
const (
	RestartConditionNone      RestartCondition = "none"
	RestartConditionOnFailure RestartCondition = "on-failure"
	RestartConditionAny       RestartCondition = "any"
)

// DeployRestart is a service's restart policy: deploy.restart_policy, or
// restart: when that is absent (always and unless-stopped are any).
type DeployRestart struct {
	Condition RestartCondition
	// Delay, Window and MaxAttempts nil: the engine's default.
	Delay       *time.Duration
	Window      *time.Duration
	MaxAttempts *uint64
}

// UpdatePolicy is update_config or rollback_config.
type UpdatePolicy struct {
	// Parallelism is how many tasks change at once; 0 is all of them.
	// compose's default, when the section is present, is 1.
	Parallelism uint64
	Delay       time.Duration
	// FailureAction is "pause", "continue", "rollback", or "" (pause).
	FailureAction string
	// Monitor is how long a new task is watched for failure; 0 is the
	// engine's default (5 s).
	Monitor         time.Duration
	MaxFailureRatio float32
	// Order is "stop-first", "start-first", or "" (stop-first).
	Order string
}

// Placement says which nodes may run the tasks.
type Placement struct {
	// Constraints are expressions such as "node.role==manager".
	Constraints []string
	// Preferences are spread descriptors such as "node.labels.zone".
	Preferences []string
	// MaxReplicasPerNode 0 is no bound.
	MaxReplicasPerNode uint64
}

// ObjectRef is one secret or config a service uses, for an engine that
// keeps them as objects of its own.
type ObjectRef struct {
	// Key is the object's key under the top-level secrets: or configs:.
	Key string
	// Name is its name: name:, or <project>_<key> as compose (and
	// docker stack) name it.
	Name string
	// File is the absolute path of a file-based object; else Content is
	// the object's value (content:, or environment:'s variable).
	File    string
	Content []byte
	Labels  map[string]string
	// Target is where the file appears in the container (absolute and
	// clean), as Container's mount or file of it.
	Target   string
	UID, GID string
	Mode     os.FileMode
}
