package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
)

func load(t *testing.T, yaml string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{f}, Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const sample = `
services:
  web:
    build: .
    ports: ["5001:5001"]
    depends_on:
      db: {condition: service_healthy}
  db:
    image: redis
    healthcheck: {test: ["CMD", "redis-cli", "ping"]}
`

// running returns observed containers that match the project exactly.
func running(t *testing.T, p *types.Project, state string) *engine.State {
	t.Helper()
	st := &engine.State{ImageIDs: map[string]string{}}
	for _, name := range sortedServices(p) {
		s := p.Services[name]
		h, err := compose.ServiceHash(s)
		if err != nil {
			t.Fatal(err)
		}
		ref := compose.ImageRef(p, s)
		st.ImageIDs[ref] = "sha256:" + ref
		st.Containers = append(st.Containers, engine.Container{
			ID: "id-" + name, Name: ContainerName(p.Name, s, 1), Service: name, Number: 1,
			ConfigHash: h, ImageID: "sha256:" + ref, State: state,
		})
	}
	st.Networks = []engine.Network{{Name: "demo_default"}}
	return st
}

func check(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("plan mismatch\n--- got\n%s--- want\n%s", got, want)
	}
}

func TestUpFresh(t *testing.T) {
	p := load(t, sample)
	pl, err := Up(p, &engine.State{}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `create network demo_default
create container demo-db-1 (new) <- create network demo_default
create container demo-web-1 (new) <- create network demo_default
start container demo-db-1 <- create container demo-db-1
wait healthy demo-db-1 <- start container demo-db-1
start container demo-web-1 <- create container demo-web-1, wait healthy demo-db-1
`)
}

// --no-start and create: the same plan without starts and waits; what
// waited on a dropped op waits on what it waited on.
func TestUpNoStart(t *testing.T) {
	p := load(t, sample)
	pl, err := Up(p, &engine.State{}, UpOptions{NoStart: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `create network demo_default
create container demo-db-1 (new) <- create network demo_default
create container demo-web-1 (new) <- create network demo_default
`)
	obs := running(t, p, engine.StateRunning)
	web := p.Services["web"]
	web.Environment = types.MappingWithEquals{"COLOR": ptr("blue")}
	p.Services["web"] = web
	pl, err = Up(p, obs, UpOptions{NoStart: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range pl.Ops() {
		if op.Kind == Start || op.Kind == WaitHealthy || op.Kind == WaitRunning {
			t.Errorf("a recreate without start has %s", op.ID())
		}
	}
	if !strings.Contains(pl.String(), "create container demo-web-1") {
		t.Errorf("web not recreated:\n%s", pl.String())
	}
}

// --no-start never stops a running dependent for a depends_on restart:
// nothing would start it again.
func TestUpNoStartLeavesRestartDependents(t *testing.T) {
	p := load(t, sample)
	web := p.Services["web"]
	cond := web.DependsOn["db"]
	cond.Restart = true
	web.DependsOn["db"] = cond
	p.Services["web"] = web
	obs := running(t, p, engine.StateRunning)
	for i, c := range obs.Containers {
		if c.Service == "db" {
			obs.Containers[i].State = engine.StateExited
		}
	}
	pl, err := Up(p, obs, UpOptions{NoStart: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), "nothing to do\n")
	pl, err = Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pl.String(), "stop container demo-web-1 (restart after db)") {
		t.Errorf("without --no-start web is restarted after db:\n%s", pl.String())
	}
}

func TestUpNoop(t *testing.T) {
	p := load(t, sample)
	pl, err := Up(p, running(t, p, engine.StateRunning), UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), "nothing to do\n")
}

func TestUpRecreatesOnlyChangedService(t *testing.T) {
	p := load(t, sample)
	obs := running(t, p, engine.StateRunning)
	web := p.Services["web"]
	web.Environment = types.MappingWithEquals{"COLOR": ptr("blue")}
	p.Services["web"] = web
	pl, err := Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `stop container demo-web-1 (recreate)
wait healthy demo-db-1
remove container demo-web-1 (recreate) <- stop container demo-web-1
create container demo-web-1 (config changed) <- remove container demo-web-1
start container demo-web-1 <- create container demo-web-1, wait healthy demo-db-1
`)
}

func TestUpStartsStopped(t *testing.T) {
	p := load(t, sample)
	pl, err := Up(p, running(t, p, engine.StateExited), UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `start container demo-db-1 (exited)
wait healthy demo-db-1 <- start container demo-db-1
start container demo-web-1 (exited) <- wait healthy demo-db-1
`)
}

func TestUpImageChanged(t *testing.T) {
	p := load(t, sample)
	obs := running(t, p, engine.StateRunning)
	obs.ImageIDs["demo-web"] = "sha256:new"
	pl, err := Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `stop container demo-web-1 (recreate)
wait healthy demo-db-1
remove container demo-web-1 (recreate) <- stop container demo-web-1
create container demo-web-1 (image changed) <- remove container demo-web-1
start container demo-web-1 <- create container demo-web-1, wait healthy demo-db-1
`)
	pl, err = Up(p, obs, UpOptions{NoRecreate: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), "nothing to do\n")
}

func TestUpCompletedAndScaleAndWait(t *testing.T) {
	p := load(t, `
services:
  migrate:
    image: busybox
    command: ["true"]
  app:
    image: busybox
    scale: 2
    depends_on:
      migrate: {condition: service_completed_successfully}
`)
	pl, err := Up(p, &engine.State{}, UpOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `create network demo_default
create container demo-app-1 (new) <- create network demo_default
create container demo-app-2 (new) <- create network demo_default
create container demo-migrate-1 (new) <- create network demo_default
start container demo-migrate-1 <- create container demo-migrate-1
wait completed demo-migrate-1 <- start container demo-migrate-1
start container demo-app-1 <- create container demo-app-1, wait completed demo-migrate-1
start container demo-app-2 <- create container demo-app-2, wait completed demo-migrate-1
wait running demo-app-1 <- start container demo-app-1
wait running demo-app-2 <- start container demo-app-2
`)
}

func TestUpScaleDownAndOrphans(t *testing.T) {
	p := load(t, `
services:
  app:
    image: busybox
`)
	obs := running(t, p, engine.StateRunning)
	obs.Containers = append(obs.Containers,
		engine.Container{ID: "x2", Name: "demo-app-2", Service: "app", Number: 2, ConfigHash: obs.Containers[0].ConfigHash, State: engine.StateRunning},
		engine.Container{ID: "o1", Name: "demo-old-1", Service: "old", Number: 1, State: engine.StateExited},
	)
	pl, err := Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `stop container demo-app-2 (scale down)
remove container demo-app-2 (scale down) <- stop container demo-app-2
`)
	if len(pl.Warnings) != 1 || pl.Warnings[0] != "found orphan containers (demo-old-1) for this project; remove them with --remove-orphans" {
		t.Errorf("warnings: %q", pl.Warnings)
	}
	pl, err = Up(p, obs, UpOptions{RemoveOrphans: true})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `remove container demo-old-1 (orphan)
stop container demo-app-2 (scale down)
remove container demo-app-2 (scale down) <- stop container demo-app-2
`)
}

func TestUpRestartDependent(t *testing.T) {
	p := load(t, `
services:
  api:
    image: busybox
    depends_on:
      db: {condition: service_started, restart: true}
  db:
    image: busybox
`)
	obs := running(t, p, engine.StateRunning)
	obs.Containers[1].State = engine.StateExited // db
	pl, err := Up(p, obs, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `start container demo-db-1 (exited)
stop container demo-api-1 (restart after db) <- start container demo-db-1
start container demo-api-1 (restart after db) <- start container demo-db-1, stop container demo-api-1
`)
}

func TestImages(t *testing.T) {
	p := load(t, sample)
	check(t, Images(p, &engine.State{}, ImageOptions{}).String(), `build demo-web (missing)
pull redis (missing)
`)
	obs := running(t, p, engine.StateRunning)
	check(t, Images(p, obs, ImageOptions{}).String(), "nothing to do\n")
	check(t, Images(p, obs, ImageOptions{Build: true}).String(), "build demo-web (--build)\n")
	check(t, Images(p, &engine.State{}, ImageOptions{NoBuild: true}).String(), `pull demo-web (missing)
pull redis (missing)
`)
}

func TestDownReverseOrder(t *testing.T) {
	obs := &engine.State{
		Containers: []engine.Container{
			{ID: "1", Name: "demo-db-1", Service: "db", Number: 1, State: engine.StateRunning},
			{ID: "2", Name: "demo-web-1", Service: "web", Number: 1, State: engine.StateRunning,
				Labels: map[string]string{engine.LabelDependsOn: "db:service_healthy:false"}},
			{ID: "3", Name: "demo-job-1", Service: "job", Number: 1, State: engine.StateExited},
		},
		Networks: []engine.Network{{Name: "demo_default"}},
		Volumes:  []engine.Volume{{Name: "demo_data"}},
	}
	check(t, Down(obs, DownOptions{}).String(), `remove container demo-job-1
stop container demo-web-1
remove container demo-web-1 <- stop container demo-web-1
stop container demo-db-1 <- stop container demo-web-1
remove container demo-db-1 <- stop container demo-db-1
remove network demo_default <- remove container demo-db-1, remove container demo-job-1, remove container demo-web-1
`)
	got := Down(obs, DownOptions{Volumes: true, Images: []string{"demo-web"}}).String()
	want := `remove container demo-job-1
stop container demo-web-1
remove container demo-web-1 <- stop container demo-web-1
stop container demo-db-1 <- stop container demo-web-1
remove container demo-db-1 <- stop container demo-db-1
remove image demo-web <- remove container demo-db-1, remove container demo-job-1, remove container demo-web-1
remove network demo_default <- remove container demo-db-1, remove container demo-job-1, remove container demo-web-1
remove volume demo_data <- remove container demo-db-1, remove container demo-job-1, remove container demo-web-1
`
	check(t, got, want)
}

func ptr(s string) *string { return &s }

// A container that takes another service's volumes (volumes_from), ipc
// or pid namespace is created only once that service's container runs:
// the Engine refuses to create it before.
func TestUpCreatesAfterTheContainersTheyTakeFrom(t *testing.T) {
	p := load(t, `
services:
  src:
    image: busybox
    ipc: shareable
  vol:
    image: busybox
    volumes_from: ["src:ro"]
  ns:
    image: busybox
    ipc: service:src
    pid: service:src
`)
	pl, err := Up(p, &engine.State{}, UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, pl.String(), `create network demo_default
create container demo-src-1 (new) <- create network demo_default
start container demo-src-1 <- create container demo-src-1
create container demo-ns-1 (new) <- create network demo_default, start container demo-src-1
create container demo-vol-1 (new) <- create network demo_default, start container demo-src-1
start container demo-ns-1 <- create container demo-ns-1, start container demo-src-1
start container demo-vol-1 <- create container demo-vol-1, start container demo-src-1
`)
}
