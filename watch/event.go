package watch

import "time"

// Stage names what an Event reports.
type Stage string

const (
	// StageSeen: a raw filesystem change was noticed (Path; Message is the
	// fsnotify op; Files is how many paths it added to the batch, more than
	// one for a new directory with contents). High volume: a CLI should count
	// these rather than print them. Emitted once the paths are pending.
	StageSeen Stage = "seen"
	// StageFlushed: a batch closed (Files paths; Duration since its first
	// change was seen).
	StageFlushed Stage = "flushed"
	// StageStarted: an action started for Service (Files it carries).
	StageStarted Stage = "started"
	// StageDone: an action finished (Duration since StageStarted; Err if it
	// failed, after which watching goes on).
	StageDone Stage = "done"
	// StageSkipped: a path was deliberately not handed to the controller
	// (Path, Message says why; e.g. a symlink leading outside the rule).
	StageSkipped Stage = "skipped"
	// StageWarning: something the user should know (Message), e.g. a rule
	// whose path is bind-mounted into the service.
	StageWarning Stage = "warning"
	// StagePaused: a rule kept re-triggering itself and was paused (Message).
	StagePaused Stage = "paused"
	// StageRescan: the event queue overflowed and the trees were rescanned
	// (Files: paths found changed by the rescan).
	StageRescan Stage = "rescan"
	// StageReady: the initial walk finished (Files: directories watched;
	// Duration: time the registration took).
	StageReady Stage = "ready"
)

// Action is the controller call an Event refers to.
type Action string

const (
	ActionSync    Action = "sync"
	ActionRebuild Action = "rebuild"
	ActionRestart Action = "restart"
	ActionExec    Action = "exec"
)

// Event is one observable step of the pipeline. Time comes from the injected
// Clock.
type Event struct {
	Stage    Stage
	Time     time.Time
	Service  string
	Action   Action
	Path     string
	Files    int
	Duration time.Duration
	Message  string
	Err      error
}

// Sink receives events. It is called synchronously from the watcher's
// goroutines, possibly concurrently, and must not block for long.
type Sink func(Event)
