package supervisor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// ContainerConfig is what Run needs to own one container.
type ContainerConfig struct {
	// ID is the container's id (also its cgroup name, see runtime.Spec.ID).
	ID string `json:"id"`
	// Spec is sent as JSON: its io fields and Prestart are not carried, so
	// the network namespace must already exist (runtime.NetworkJoin).
	Spec runtime.Spec `json:"spec"`
	// StateDir receives state.json (runtime.ReadState reads it),
	// health.json and the log fifos.
	StateDir string `json:"state_dir"`
	// LogDir receives container.log and its rotations; empty means StateDir.
	LogDir string `json:"log_dir,omitempty"`
	// LogMaxSize is the size at which container.log rotates (default
	// 10 MiB); LogMaxFiles the number of files kept, the live one
	// included (default 3).
	LogMaxSize  int64 `json:"log_max_size,omitempty"`
	LogMaxFiles int   `json:"log_max_files,omitempty"`
	// LogNonBlocking drops output the log writer cannot keep up with
	// instead of making the container wait (Docker's mode=non-blocking).
	LogNonBlocking bool `json:"log_non_blocking,omitempty"`

	Restart     RestartPolicy       `json:"restart"`
	Healthcheck *Healthcheck        `json:"healthcheck,omitempty"`
	Ports       []portproxy.Binding `json:"ports,omitempty"`
	StopSignal  syscall.Signal      `json:"stop_signal,omitempty"` // default SIGTERM
	StopGrace   time.Duration       `json:"stop_grace,omitempty"`  // default 10 s
	// StdinOpen gives the container a stdin that never ends (compose
	// stdin_open); with Spec.TTY the terminal serves as stdin and stays
	// open while the supervisor lives.
	StdinOpen bool `json:"stdin_open,omitempty"`
}

func (c *ContainerConfig) logDir() string {
	if c.LogDir != "" {
		return c.LogDir
	}
	return c.StateDir
}

func (c *ContainerConfig) stopSignal() syscall.Signal {
	if c.StopSignal == 0 {
		return syscall.SIGTERM
	}
	return c.StopSignal
}

func (c *ContainerConfig) stopGrace() time.Duration {
	if c.StopGrace <= 0 {
		return 10 * time.Second
	}
	return c.StopGrace
}

// RestartMode is a compose restart policy name.
type RestartMode string

// Restart modes, as in Docker.
const (
	RestartNo            RestartMode = "no"
	RestartAlways        RestartMode = "always"
	RestartOnFailure     RestartMode = "on-failure"
	RestartUnlessStopped RestartMode = "unless-stopped"
)

// RestartPolicy is a mode and, for on-failure, the most restarts (0:
// unlimited).
type RestartPolicy struct {
	Mode       RestartMode `json:"mode,omitempty"`
	MaxRetries int         `json:"max_retries,omitempty"`
}

// ParseRestartPolicy parses "no", "always", "unless-stopped",
// "on-failure" and "on-failure:N"; "" is "no".
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	mode, n, hasN := strings.Cut(s, ":")
	p := RestartPolicy{Mode: RestartMode(mode)}
	switch p.Mode {
	case "":
		p.Mode = RestartNo
	case RestartNo, RestartAlways, RestartUnlessStopped:
	case RestartOnFailure:
		if hasN {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return p, fmt.Errorf("restart policy %q: bad retry count", s)
			}
			p.MaxRetries = v
			return p, nil
		}
	default:
		return p, fmt.Errorf("restart policy %q: unknown", s)
	}
	if hasN {
		return p, fmt.Errorf("restart policy %q: only on-failure takes a count", s)
	}
	return p, nil
}

// Healthcheck is a compose healthcheck. Test is ["CMD", args...],
// ["CMD-SHELL", script] or ["NONE"]; zero durations take Docker's
// defaults (30 s interval and timeout, 3 retries, 5 s start interval).
type Healthcheck struct {
	Test          []string      `json:"test"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	Retries       int           `json:"retries,omitempty"`
	StartPeriod   time.Duration `json:"start_period,omitempty"`
	StartInterval time.Duration `json:"start_interval,omitempty"`
}

// Status of a supervised container.
type Status string

// Statuses. Stopped is an exit after Stop (or Kill with an explicit stop);
// Restarting is the backoff wait between runs.
const (
	StatusRunning    Status = "running"
	StatusRestarting Status = "restarting"
	StatusExited     Status = "exited"
	StatusStopped    Status = "stopped"
)

// ContainerState is what State and List report.
type ContainerState struct {
	ID           string    `json:"id"`
	Status       Status    `json:"status"`
	Pid          int       `json:"pid,omitempty"`
	ExitCode     int       `json:"exit_code"`
	RestartCount int       `json:"restart_count"`
	Health       string    `json:"health,omitempty"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	// Adopted: started by an earlier supervisor that died; its exit code
	// cannot be known (it is recorded as -1).
	Adopted bool `json:"adopted,omitempty"`
	// Ports are the bound host addresses, in the order of the bindings.
	Ports []string `json:"ports,omitempty"`
	// DroppedLogBytes counts output dropped because the log writer fell
	// behind.
	DroppedLogBytes int64  `json:"dropped_log_bytes,omitempty"`
	Error           string `json:"error,omitempty"`
}

// EventType names an event.
type EventType string

// Event types.
const (
	EventStarted    EventType = "started"
	EventExited     EventType = "exited"
	EventHealth     EventType = "health"
	EventRestarting EventType = "restarting"
	EventRemoved    EventType = "removed"
)

// Event is one line of Subscribe's stream.
type Event struct {
	Type EventType `json:"type"`
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Pid  int       `json:"pid,omitempty"`
	// ExitCode is set on exited (-1: unknown, for an adopted container).
	ExitCode int `json:"exit_code,omitempty"`
	// Health is set on health: starting, healthy or unhealthy.
	Health string `json:"health,omitempty"`
	// Delay and RestartCount are set on restarting.
	Delay        time.Duration `json:"delay,omitempty"`
	RestartCount int           `json:"restart_count,omitempty"`
	Error        string        `json:"error,omitempty"`
}

// Errors a Client returns, checked with errors.Is.
var (
	ErrNotFound = errors.New("no such container")
	ErrExists   = errors.New("container already supervised")
	ErrRunning  = errors.New("container is running")
)
