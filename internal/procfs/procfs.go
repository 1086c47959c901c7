// Package procfs reads what hoist needs from /proc.
package procfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// StartTime is field 22 of /proc/<pid>/stat, the process's start time in
// clock ticks since boot. A pid together with its start time names one
// process even after the pid is reused.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	// Fields after the name start at field 3, so field 22 is index 19.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("malformed /proc stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// Exited says whether pid is a zombie (state Z or X, field 3): it has
// ended but its parent has not reaped it yet, so kill(pid, 0) still
// succeeds. A pid that is gone has exited too.
func Exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}
