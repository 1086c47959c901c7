package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// copyFixture puts the files of a container that hoist 0.x (before this
// package) left in its run dir where a Layout finds them.
func copyFixture(t *testing.T, l Layout, project, id string) {
	t.Helper()
	dir := l.StateDir(project, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ConfigFile, HealthFile, ProxyFile, StateFile} {
		b, err := os.ReadFile(filepath.Join("testdata", "v1", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A project left running across an upgrade must still be seen and taken
// down: the records the engine wrote before the store had its own types
// load with every field, and write back the same JSON.
func TestOldRecordLoads(t *testing.T) {
	l := Layout{Root: t.TempDir(), RunDir: t.TempDir()}
	const project, id = "fixture", "7b0df35bac9cc768884cc0fd9ec08145480d2b99eb9432cdf1503f2d84e5d48e"
	copyFixture(t, l, project, id)
	r, err := l.LoadRef(id[:12])
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "fixture-web-1" || r.Service != "web" || r.Number != 1 || r.Labels["a"] != "b" {
		t.Errorf("identity %+v", r)
	}
	if len(r.Networks) != 1 || r.Networks[0].Name != "fixture_front" || len(r.Networks[0].Aliases) != 2 || !r.Bridged() {
		t.Errorf("networks %+v", r.Networks)
	}
	wantPorts := []Port{
		{HostIP: "0.0.0.0", ContainerPort: 9999, Protocol: "udp"},
		{HostIP: "127.0.0.1", HostPort: 18080, HostPortEnd: 18090, ContainerPort: 8080, Protocol: "tcp"},
	}
	if len(r.Ports) != 2 || r.Ports[0] != wantPorts[0] || r.Ports[1] != wantPorts[1] {
		t.Errorf("ports %+v, want %+v", r.Ports, wantPorts)
	}
	hc := r.Healthcheck
	if hc == nil || len(hc.Test) != 2 || hc.Interval != Duration(2*time.Second) || hc.Timeout != Duration(30*time.Second) ||
		hc.Retries != 4 || hc.StartPeriod != 0 || hc.StartInterval != Duration(5*time.Second) {
		t.Errorf("healthcheck %+v", hc)
	}
	if r.StopTimeout == nil || *r.StopTimeout != 3*time.Second || r.StopSignal != "SIGINT" || r.Restart != "on-failure:3" || !r.StdinOpen {
		t.Errorf("stop and restart: %v %q %q %v", r.StopTimeout, r.StopSignal, r.Restart, r.StdinOpen)
	}
	if r.Log.MaxSize != 1<<20 || r.Log.MaxFiles != 2 {
		t.Errorf("log %+v", r.Log)
	}
	if len(r.Volumes) != 2 || r.Volumes[0].Name != "fixture_data" || !r.Volumes[1].Anonymous || len(r.Spec.Mounts) != 3 {
		t.Errorf("volumes %+v, mounts %+v", r.Volumes, r.Spec.Mounts)
	}
	if len(r.ExtraHosts) != 1 || len(r.DNS.Nameservers) != 1 || r.Spec.Args[0] != "sh" {
		t.Errorf("etc %v %+v, spec %+v", r.ExtraHosts, r.DNS, r.Spec)
	}
	// Written back, the record is the file it was read from.
	want, _ := os.ReadFile(filepath.Join("testdata", "v1", ConfigFile))
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSpace(want)) {
		t.Errorf("written back:\n%s\nwant:\n%s", got, want)
	}

	// The supervisor wrote the other files: ports for ps, health for wait.
	if p := l.PublishedPorts(r); len(p) != 2 || p[1] != (engine.PortBinding{HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 8080, Protocol: "tcp"}) {
		t.Errorf("published ports %+v", p)
	}
	var st runtime.State
	if err := ReadJSON(filepath.Join(l.StateDir(project, id), StateFile), &st); err != nil {
		t.Fatal(err)
	}
	if h := l.Health(r, st); h.Status != engine.HealthHealthy || len(h.Log) != 4 {
		t.Errorf("health %+v", h)
	}
	if h := l.Health(r, runtime.State{StartedAt: st.StartedAt.Add(time.Second)}); h.Status != engine.HealthStarting {
		t.Errorf("another run's health %+v, want starting", h)
	}
	if all, err := l.All(); err != nil || len(all) != 1 {
		t.Errorf("All: %d records, %v", len(all), err)
	}
}

func TestOldNetworkRecordLoads(t *testing.T) {
	l := Layout{Root: t.TempDir(), RunDir: t.TempDir()}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "v1", "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.networkPath("fixture_front"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := l.Network("fixture_front")
	if err != nil || n.Project != "fixture" || n.Key != "front" || n.Labels[engine.LabelProject] != "fixture" {
		t.Fatalf("network %+v, %v", n, err)
	}
	if err := l.CreateNetwork(n); err != engine.ErrConflict {
		t.Errorf("create again: %v, want a conflict", err)
	}
}

func TestNames(t *testing.T) {
	l := Layout{Root: t.TempDir(), RunDir: t.TempDir()}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	a, b := NewID(), NewID()
	if err := l.ReserveName("box", "p", a); err != nil {
		t.Fatal(err)
	}
	if err := l.ReserveName("box", "p", b); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("second reservation: %v, want a conflict", err)
	}
	l.ReleaseName("box", b) // not b's: stays
	if _, err := os.Stat(l.NamePath("box")); err != nil {
		t.Fatal("released another container's name")
	}
	l.ReleaseName("box", a)
	if _, err := os.Stat(l.NamePath("box")); !os.IsNotExist(err) {
		t.Fatal("name kept")
	}
	for name, ok := range map[string]bool{"a": true, "a-b_c.d": true, "9": true, "": false, "-a": false, "_a": false, "a/b": false, "a b": false, "é": false} {
		if err := CheckName("container", name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v", name, err)
		}
	}
}
func TestIdle(t *testing.T) {
	l := Layout{Root: t.TempDir(), RunDir: t.TempDir()}
	if !l.Idle("p") {
		t.Error("a project with no run dir is not idle")
	}
	if err := os.MkdirAll(filepath.Join(l.ProjectDir("p"), "containers", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if !l.Idle("p") {
		t.Error("a project with containers only is not idle")
	}
	if err := os.WriteFile(filepath.Join(l.ProjectDir("p"), "supervisor.pid"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if l.Idle("p") {
		t.Error("a project with a supervisor's state is idle")
	}
}

// The project's teardown removes the dir of its up.lock while another
// process may wait for it: the waiter then holds the lock of the file that
// is there, so that a third one waits for it, not one on a removed file.
func TestLockFileAcrossTeardown(t *testing.T) {
	l := Layout{Root: t.TempDir(), RunDir: t.TempDir()}
	ctx := t.Context()
	unlock, err := l.LockProject(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		again, err := l.LockProject(ctx, "p")
		if err != nil {
			t.Error(err)
		}
		got <- again
	}()
	time.Sleep(50 * time.Millisecond) // the waiter opened the file and waits
	if err := os.RemoveAll(l.ProjectDir("p")); err != nil {
		t.Fatal(err)
	}
	unlock()
	again := <-got
	if again == nil {
		t.Fatal("the waiter got no lock")
	}
	defer again()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if third, err := l.LockProject(short, "p"); err == nil {
		third()
		t.Fatal("the project was locked twice at once")
	}
}
