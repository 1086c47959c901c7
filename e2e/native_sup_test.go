package e2e

// Commands for the native supervisor's scripts.
//
//	timeit MAX PROG [ARGS...]      run PROG, require it to succeed within MAX
//	                               (a duration); logs the time it took
//	supkill PROJECT                kill -9 the project's native supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	commands["timeit"] = cmdTimeIt
	commands["supkill"] = cmdSupKill
}

// timeit MAX PROG [ARGS...]
func cmdTimeIt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: timeit MAX PROG [ARGS...]")
	}
	max, err := time.ParseDuration(args[0])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), max+time.Minute)
	defer cancel()
	cmd := command(ctx, ts, args[1:])
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	ts.Logf("timeit: %v took %v (bound %v)", args[1:], took.Round(time.Millisecond), max)
	if err != nil {
		ts.Fatalf("timeit: %v: %v", args[1:], err)
	}
	if took > max {
		ts.Fatalf("timeit: %v took %v, more than %v", args[1:], took, max)
	}
}

// supkill PROJECT
func cmdSupKill(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: supkill PROJECT")
	}
	data, err := os.ReadFile(filepath.Join(nativeRunDir, args[0], "supervisor.json"))
	ts.Check(err)
	var info struct {
		Pid int `json:"pid"`
	}
	ts.Check(json.Unmarshal(data, &info))
	if info.Pid <= 1 {
		ts.Fatalf("supervisor.json: bad pid %d", info.Pid)
	}
	ts.Check(syscall.Kill(info.Pid, syscall.SIGKILL))
	// Wait for it to be gone (a zombie counts as gone).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(filepath.Join("/proc", itoa(info.Pid), "stat"))
		if err != nil || stateZombie(b) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("supervisor %d still runs after SIGKILL", info.Pid)
}

func itoa(n int) string { return strconv.Itoa(n) }

func stateZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
