package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/runtime/cgroup"
	"github.com/hoist-dev/hoist/engine/native/runtime/state"
)

// A Monitor records the container running, then its exit code, and
// removes its cgroup.
func TestMonitor(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stateDir := filepath.Join(t.TempDir(), "state")
	var stdout, stderr syncBuffer
	spec := Spec{ID: testID(t), Rootfs: newRootfs(t), Stdout: &stdout, Stderr: &stderr,
		Args: []string{"sh", "-c", "echo out; echo err >&2; while [ ! -e /tmp/go ]; do sleep 0.02; done; exit 4"}}
	m := &Monitor{StateDir: stateDir}
	pid, err := m.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusRunning || st.Pid != pid || st.MonitorPid != os.Getpid() || !state.Alive(pid, st.StartTime) {
		t.Fatalf("state %+v", st)
	}
	if err := os.WriteFile(filepath.Join(spec.Rootfs, "tmp/go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := m.Wait(); err != nil || code != 4 {
		t.Fatalf("exit %d, %v", code, err)
	}
	st, err = ReadState(stateDir)
	if err != nil || st.Status != StatusExited || st.ExitCode != 4 || st.FinishedAt.Before(st.StartedAt) || st.Error != "" {
		t.Fatalf("state %+v, %v", st, err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("output %q %q", stdout.String(), stderr.String())
	}
	cg, err := cgroup.Of(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range cg.Dirs() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind", dir)
		}
	}
}
