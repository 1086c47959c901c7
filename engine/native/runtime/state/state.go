// Package state is the record of a detached container that the runtime's
// Monitor keeps in its state directory (state.json: running, then the
// exit), and the reading of it that tells a container whose process is
// gone, or whose pid was reused, from a running one. It is the host's
// alone: the process that starts containers writes it, and any hoist
// process reads it.
package state

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
	Running Status = "running"
	Exited  Status = "exited"
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

// Write replaces the record in the state directory dir.
func Write(dir string, st State) error {
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

// StartTime identifies a process together with its pid: its start time in
// clock ticks after boot.
func StartTime(pid int) (uint64, error) { return procfs.StartTime(pid) }

// Alive reports whether pid still runs the process that started at start.
func Alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	t, err := StartTime(pid)
	return err == nil && t == start
}

// Read reads a detached container's state. A "running" record whose
// process is gone, or whose pid now belongs to another process (a
// different start time), is reported as exited with exit code -1, unless
// the monitor records the real exit meanwhile.
func Read(stateDir string) (State, error) {
	st, err := readStateFile(stateDir)
	if err != nil || st.Status != Running || Alive(st.Pid, st.StartTime) {
		return st, err
	}
	// The monitor may be between reaping the container and recording it.
	for i := 0; i < 50; i++ {
		time.Sleep(10 * time.Millisecond)
		if st, err = readStateFile(stateDir); err != nil || st.Status != Running {
			return st, err
		}
	}
	st.Status, st.ExitCode, st.Error = Exited, -1, "container process vanished without a recorded exit"
	return st, nil
}
