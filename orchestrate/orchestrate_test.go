package orchestrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/netplan"
)

func load(t *testing.T, yaml string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{f}, Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const twoServices = `
services:
  web:
    image: web
    ports: ["5001:5001"]
    depends_on:
      db: {condition: service_healthy}
  db:
    image: redis
    volumes: ["data:/data"]
volumes:
  data: {}
`

func freeProbe(netplan.Binding) error { return nil }

func TestUpThenDown(t *testing.T) {
	f := newFake()
	o := &Orchestrator{Backend: f, Parallel: 1}
	p := load(t, twoServices)
	if _, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe}); err != nil {
		t.Fatal(err)
	}
	// With one worker the order is deterministic: a task runs as soon as its
	// last dependency is done (web needs only the network, db the volume too).
	want := `pull redis
pull web
create network demo_default
create volume demo_data
create demo-web-1
create demo-db-1
start demo-db-1
wait healthy demo-db-1
start demo-web-1`
	if got := f.callLog(); got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
	f.calls = nil
	if _, err := o.Down(context.Background(), "demo", p, DownOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	want = `stop demo-web-1
remove demo-web-1
stop demo-db-1
remove demo-db-1
remove network demo_default
remove volume demo_data`
	if got := f.callLog(); got != want {
		t.Errorf("down calls:\n%s\nwant:\n%s", got, want)
	}
}

func TestFailedUpRollsBack(t *testing.T) {
	f := newFake()
	f.failStart = "demo-web-1"
	o := &Orchestrator{Backend: f, Parallel: 4}
	_, err := o.Up(context.Background(), load(t, twoServices), UpOptions{Probe: freeProbe})
	if err == nil || !strings.Contains(err.Error(), "start demo-web-1: boom") {
		t.Fatalf("err = %v", err)
	}
	st, _ := f.Observe(context.Background(), "demo", nil)
	if len(st.Containers)+len(st.Networks)+len(st.Volumes) != 0 {
		t.Errorf("left behind: %+v\ncalls:\n%s", st, f.callLog())
	}
}

func TestInterruptedUpRollsBack(t *testing.T) {
	f := newFake()
	f.blockWait = "demo-db-1"
	o := &Orchestrator{Backend: f, Parallel: 4}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-f.waiting; cancel() }()
	_, err := o.Up(ctx, load(t, twoServices), UpOptions{Probe: freeProbe})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	st, _ := f.Observe(context.Background(), "demo", nil)
	if len(st.Containers)+len(st.Networks)+len(st.Volumes) != 0 {
		t.Errorf("left behind: %+v", st)
	}
	if strings.Contains(f.callLog(), "start demo-web-1") {
		t.Error("web started although db never became healthy")
	}
}

func TestPortInUseCreatesNothing(t *testing.T) {
	f := newFake()
	o := &Orchestrator{Backend: f}
	inUse := func(b netplan.Binding) error {
		if b.HostPort == 5001 {
			return netplan.ErrPortInUse
		}
		return nil
	}
	_, err := o.Up(context.Background(), load(t, twoServices), UpOptions{Probe: inUse})
	if err == nil || !strings.Contains(err.Error(), "5001") || !strings.Contains(err.Error(), `"web"`) {
		t.Fatalf("err = %v", err)
	}
	if f.callLog() != "" {
		t.Errorf("engine was called: %s", f.callLog())
	}
}

func TestSecondUpIsNoop(t *testing.T) {
	f := newFake()
	o := &Orchestrator{Backend: f}
	p := load(t, twoServices)
	if _, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe}); err != nil {
		t.Fatal(err)
	}
	res, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Plan.Empty() || !res.ImagePlan.Empty() {
		t.Errorf("second up planned:\n%s%s", res.ImagePlan, res.Plan)
	}
}

// up --no-deps of one service keeps its depends_on label, which orders down.
func TestNoDepsKeepsDependsOnLabel(t *testing.T) {
	f := newFake()
	o := &Orchestrator{Backend: f}
	p := load(t, twoServices)
	if _, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe, Services: []string{"web"}, NoDeps: true, ForceRecreate: true}); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Observe(context.Background(), "demo", nil)
	for _, c := range st.Containers {
		if c.Service == "web" && c.Labels["com.docker.compose.depends_on"] != "db:service_healthy:false" {
			t.Errorf("web's depends_on label = %q", c.Labels["com.docker.compose.depends_on"])
		}
	}
}

func TestRunAdditions(t *testing.T) {
	p := &types.Project{Volumes: types.Volumes{"cache": {}}}
	x, err := runAdditions(p, RunOptions{
		Volumes: []string{"/abs:/a:ro", "./rel:/r2", "cache:/c"},
		Publish: []string{"127.0.0.1:8080:80", "9000-9001:9000-9001/udp"},
		Labels:  []string{"tier=front", "flag"},
	})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if len(x.volumes) != 3 || x.volumes[0].Source != "/abs" || !x.volumes[0].ReadOnly || x.volumes[1].Source != filepath.Join(wd, "rel") || x.volumes[2].Type != types.VolumeTypeVolume {
		t.Errorf("volumes %+v", x.volumes)
	}
	if len(x.ports) != 3 || x.ports[0].HostIP != "127.0.0.1" || x.ports[0].Published != "8080" || x.ports[0].Target != 80 {
		t.Errorf("ports %+v", x.ports)
	}
	if x.labels["tier"] != "front" || x.labels["flag"] != "" || len(x.labels) != 2 {
		t.Errorf("labels %v", x.labels)
	}
	for _, bad := range []RunOptions{{Volumes: []string{"undeclared:/x"}}, {Publish: []string{"nope"}}, {Labels: []string{"=x"}}} {
		if _, err := runAdditions(p, bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want a one-line error", bad, err)
		}
	}
}
