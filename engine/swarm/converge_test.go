package swarm_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	dswarm "github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/engine/swarm"
)

const busybox = "hoist-test/busybox:latest"

// version is a service's spec version as the manager holds it.
func version(t *testing.T, ctx context.Context, project, service string) uint64 {
	t.Helper()
	s, _, err := nodeClient(t, 0).ServiceInspectWithRaw(ctx, swarm.Scope(project, service), dswarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Version.Index
}

func TestRedeployChangesOnlyWhatChanged(t *testing.T) {
	e := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	yaml := func(color string) string {
		return fmt.Sprintf(`services:
  a:
    image: %s
    command: ["sleep", "1000"]
    init: true
    environment: {COLOR: %s}
    deploy: {replicas: 2, endpoint_mode: dnsrr}
  b:
    image: %s
    command: ["sleep", "1000"]
    init: true
    deploy: {endpoint_mode: dnsrr}
`, busybox, color, busybox)
	}
	pr := loadProject(t, "hoist-redeploy", map[string]string{"compose.yaml": yaml("blue")})
	t.Cleanup(func() { pr.remove(t, e) })

	first := pr.deploy(t, ctx, e, "a", "b")
	if first["a"].Change != swarm.Created || first["b"].Change != swarm.Created {
		t.Fatalf("first deploy: %+v", first)
	}
	va, vb := version(t, ctx, pr.name, "a"), version(t, ctx, pr.name, "b")

	// Nothing changed: no request, the versions stay.
	noop := time.Now()
	again := pr.deploy(t, ctx, e, "a", "b")
	t.Logf("no-op redeploy of 2 services (apply and wait each, prune): %v", time.Since(noop))
	if again["a"].Change != swarm.Unchanged || again["b"].Change != swarm.Unchanged {
		t.Errorf("no-op redeploy: %+v", again)
	}
	if v := version(t, ctx, pr.name, "a"); v != va {
		t.Errorf("a's version went from %d to %d on a no-op redeploy", va, v)
	}
	if v := version(t, ctx, pr.name, "b"); v != vb {
		t.Errorf("b's version went from %d to %d on a no-op redeploy", vb, v)
	}

	// One service's environment: that service only.
	pr.write(t, "compose.yaml", yaml("green"))
	reload(t, pr)
	third := pr.deploy(t, ctx, e, "a", "b")
	if third["a"].Change != swarm.Updated || third["b"].Change != swarm.Unchanged {
		t.Errorf("env change of a: %+v", third)
	}
	if v := version(t, ctx, pr.name, "b"); v != vb {
		t.Errorf("b's version went from %d to %d when only a changed", vb, v)
	}
	tasks, err := e.Tasks(ctx, pr.name)
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, tk := range tasks {
		if tk.Service == "a" && tk.DesiredState == "running" {
			running++
			spec, _, err := nodeClient(t, 0).TaskInspectWithRaw(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if env := spec.Spec.ContainerSpec.Env; !slices.Contains(env, "COLOR=green") {
				t.Errorf("task %s runs with %v, want COLOR=green", tk.Name(), env)
			}
		}
	}
	if running != 2 {
		t.Errorf("a has %d running tasks, want 2: %+v", running, tasks)
	}
}

// A job gates its dependent: the dependent's tasks are made only after
// the job completed. A failing job fails the wait with its exit code.
func TestJobGatesDependent(t *testing.T) {
	e := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pr := loadProject(t, "hoist-job", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  migrate:
    image: %[1]s
    command: ["sh", "-c", "sleep 2; echo migrated"]
    deploy: {mode: replicated-job, replicas: 2}
  app:
    image: %[1]s
    command: ["sleep", "1000"]
    init: true
    depends_on:
      migrate: {condition: service_completed_successfully}
    deploy: {endpoint_mode: dnsrr}
  broken:
    image: %[1]s
    command: ["sh", "-c", "exit 3"]
    deploy: {mode: replicated-job, restart_policy: {condition: none}}
`, busybox)})
	t.Cleanup(func() { pr.remove(t, e) })

	pr.deploy(t, ctx, e, "migrate", "app")
	tasks, err := e.Tasks(ctx, pr.name)
	if err != nil {
		t.Fatal(err)
	}
	var jobDone time.Time
	var appCreated time.Time
	for _, tk := range tasks {
		switch tk.Service {
		case "migrate":
			if tk.State != "complete" {
				t.Errorf("migrate task %s is %s, want complete", tk.Name(), tk.State)
			}
			if tk.Updated.After(jobDone) {
				jobDone = tk.Updated
			}
		case "app":
			appCreated = tk.Created
		}
	}
	if appCreated.IsZero() || !appCreated.After(jobDone) {
		t.Errorf("app's task was made at %v, before the job completed at %v", appCreated, jobDone)
	}
	lines := logsOf(t, ctx, e, pr.name, "migrate")
	if n := countContaining(lines, "migrated"); n != 2 {
		t.Errorf("migrate logged %d times, want 2: %q", n, lines)
	}

	_, err = pr.tryDeploy(t, ctx, e, "broken")
	if !errors.Is(err, swarm.ErrTaskFailed) || !strings.Contains(err.Error(), "(3)") {
		t.Errorf("a failing job: %v, want ErrTaskFailed with its exit code 3", err)
	}
}

func countContaining(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
