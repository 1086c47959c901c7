package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/devicerule"
)

// One parser reads hoist's own cgroups and a container process's: v1
// lines name controllers (several when comounted), the v2 line none.
func TestReadProcCgroup(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cgroup")
	data := "12:memory:/user/hoist/a\n11:cpu,cpuacct:/user\n1:name=systemd:/init.scope\n0::/unified\nbad line\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readProcCgroup(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"memory": "/user/hoist/a", "cpu": "/user", "cpuacct": "/user", "name=systemd": "/init.scope", "": "/unified"}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A container's cgroup is made, joined and removed: a process added to
// it is found there by OfProcess (as Exec finds a container's cgroup from
// its init), and Destroy kills it and leaves no directory behind.
func TestCreateAddOfProcessDestroy(t *testing.T) {
	needRoot(t)
	cg, err := Of(fmt.Sprintf("cgroup-test-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cg.Create(Resources{PidsLimit: 16}, devicerule.Defaults()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Destroy() })
	sleep := exec.Command("sleep", "100")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleep.Wait() }()
	if err := cg.Add(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	found, err := OfProcess(sleep.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := found.Dirs(), cg.Dirs(); !maps.Equal(got, want) {
		t.Errorf("OfProcess: %v, want %v", got, want)
	}
	for ctrl, dir := range cg.Dirs() {
		if pids, err := Pids(dir); err != nil || !slices.Contains(pids, sleep.Process.Pid) {
			t.Errorf("%s: %s holds %v (%v), not the process", ctrl, dir, pids, err)
		}
	}
	if err := cg.Destroy(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the process in the cgroup outlived Destroy")
	}
	for _, dir := range cg.Dirs() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind: %v", dir, err)
		}
	}
	if got := Existing(fmt.Sprintf("cgroup-test-%d", os.Getpid())); len(got) != 0 {
		t.Errorf("Existing after Destroy: %v", got)
	}
}
