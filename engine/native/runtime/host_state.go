//go:build !hoistinit

package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/internal/atomicfile"
	"github.com/hoist-dev/hoist/internal/procfs"
)

// Status of a detached container.
type Status string

// Statuses recorded by a Monitor.
const (
	StatusRunning Status = "running"
	StatusExited  Status = "exited"
)

// State is what a Monitor records in its state directory.
type State struct {
	Status Status `json:"status"`
	// Pid is the container init's pid; StartTime is its start time in
	// clock ticks after boot (/proc/<pid>/stat field 22), which tells a
	// reused pid apart.
	Pid        int       `json:"pid"`
	StartTime  uint64    `json:"start_time"`
	MonitorPid int       `json:"monitor_pid"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// ExitCode is valid when Status is exited; -1 means unknown (the
	// monitor vanished before recording it).
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
}

const stateFile = "state.json"

// writeFileAtomic replaces a file of the state directory, which describes
// live processes: no sync (see atomicfile.Replace).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Replace(path, data, 0o600)
}

func writeState(dir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b)
}

func readStateFile(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, fmt.Errorf("read container state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode container state: %w", err)
	}
	return st, nil
}

// procStartTime identifies a process together with its pid.
func procStartTime(pid int) (uint64, error) { return procfs.StartTime(pid) }

// alive reports whether pid still runs the process that started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	t, err := procStartTime(pid)
	return err == nil && t == start
}

// ReadState reads a detached container's state. A "running" record whose
// process is gone, or whose pid now belongs to another process (a
// different start time), is reported as exited with exit code -1, unless
// the monitor records the real exit meanwhile.
func ReadState(stateDir string) (State, error) {
	st, err := readStateFile(stateDir)
	if err != nil || st.Status != StatusRunning || alive(st.Pid, st.StartTime) {
		return st, err
	}
	// The monitor may be between reaping the container and recording it.
	for i := 0; i < 50; i++ {
		time.Sleep(10 * time.Millisecond)
		if st, err = readStateFile(stateDir); err != nil || st.Status != StatusRunning {
			return st, err
		}
	}
	st.Status, st.ExitCode, st.Error = StatusExited, -1, "container process vanished without a recorded exit"
	return st, nil
}
