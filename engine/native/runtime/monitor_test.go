package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStartDetached(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stateDir := filepath.Join(t.TempDir(), "state")
	spec := Spec{ID: testID(t), Rootfs: newRootfs(t), Args: []string{"sh", "-c", "echo out; echo err >&2; while [ ! -e /tmp/go ]; do sleep 0.02; done; exit 4"}}
	pid, err := StartDetached(ctx, spec, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusRunning || st.Pid != pid || !alive(pid, st.StartTime) {
		t.Fatalf("state %+v", st)
	}
	// The monitor runs in a session of its own.
	if sid, err := unix.Getsid(st.MonitorPid); err != nil || sid != st.MonitorPid {
		t.Errorf("monitor session %d, %v", sid, err)
	}
	if err := os.WriteFile(filepath.Join(spec.Rootfs, "tmp/go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "exit recorded", func() bool {
		st, err = ReadState(stateDir)
		return err == nil && st.Status == StatusExited
	})
	if st.ExitCode != 4 || st.FinishedAt.Before(st.StartedAt) || st.Error != "" {
		t.Fatalf("state %+v", st)
	}
	for name, want := range map[string]string{StdoutLog: "out\n", StderrLog: "err\n"} {
		if b, err := os.ReadFile(filepath.Join(stateDir, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", name, b, err)
		}
	}
	cg, err := newCgroup(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "monitor exit", func() bool { return errors.Is(syscall.Kill(st.MonitorPid, 0), syscall.ESRCH) })
	for _, dir := range cg.dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind", dir)
		}
	}
}

func TestReadStateDetectsPidReuse(t *testing.T) {
	dir := t.TempDir()
	start, err := procStartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Our own pid, but "started" at another time: a reused pid.
	if err := writeState(dir, State{Status: StatusRunning, Pid: os.Getpid(), StartTime: start + 1}); err != nil {
		t.Fatal(err)
	}
	st, err := ReadState(dir)
	if err != nil || st.Status != StatusExited || st.ExitCode != -1 {
		t.Fatalf("state %+v, %v", st, err)
	}
	if err := writeState(dir, State{Status: StatusRunning, Pid: os.Getpid(), StartTime: start}); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadState(dir); err != nil || st.Status != StatusRunning {
		t.Fatalf("state %+v, %v", st, err)
	}
}
