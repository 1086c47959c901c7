package swarm_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	dswarm "github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/engine/swarm"
)

// An update whose new tasks fail their healthcheck is rolled back by
// Swarm (failure_action: rollback), and the wait says so with the task's
// error; the service runs its previous spec again.
func TestFailingHealthcheckRollsBack(t *testing.T) {
	e := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	yaml := func(mode string) string {
		return fmt.Sprintf(`services:
  api:
    image: %s
    command: ["sh", "-c", "if [ \"$$MODE\" = good ]; then touch /tmp/ok; fi; exec sleep 1000"]
    init: true
    environment: {MODE: %s}
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ok"], interval: 500ms, timeout: 1s, retries: 2}
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      update_config: {parallelism: 1, failure_action: rollback, monitor: 3s}
      rollback_config: {parallelism: 0}
`, busybox, mode)
	}
	pr := loadProject(t, "hoist-rollback", map[string]string{"compose.yaml": yaml("good")})
	t.Cleanup(func() { pr.remove(t, e) })
	pr.deploy(t, ctx, e, "api")

	pr.write(t, "compose.yaml", yaml("bad"))
	reload(t, pr)
	_, err := pr.tryDeploy(t, ctx, e, "api")
	if !errors.Is(err, swarm.ErrRolledBack) || !strings.Contains(err.Error(), "unhealthy") {
		t.Fatalf("deploy of an unhealthy update: %v, want ErrRolledBack naming the unhealthy task", err)
	}
	t.Logf("the wait said: %v", err)
	s, _, err := nodeClient(t, 0).ServiceInspectWithRaw(ctx, swarm.Scope(pr.name, "api"), dswarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if env := s.Spec.TaskTemplate.ContainerSpec.Env; !slices.Contains(env, "MODE=good") {
		t.Errorf("after the rollback the service runs %v, want MODE=good", env)
	}
	// Converged on the old spec: a wait on it now reports the rollback
	// (the last update's outcome), and the old tasks run.
	tasks, _ := e.Tasks(ctx, pr.name)
	running := 0
	for _, tk := range tasks {
		if tk.DesiredState == "running" && tk.State == "running" {
			running++
		}
	}
	if running != 2 {
		t.Errorf("%d tasks run after the rollback, want 2: %+v", running, tasks)
	}
}

// Changing a config's content makes a new config (named after its
// content), rolls the service that uses it, and the old config goes once
// the service converged.
func TestConfigChangeRotates(t *testing.T) {
	e := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	files := func(v string) map[string]string {
		return map[string]string{
			"app.conf": "setting=" + v + "\n",
			"compose.yaml": fmt.Sprintf(`services:
  app:
    image: %s
    command: ["sh", "-c", "cat /etc/app.conf /run/secrets/token; echo; exec sleep 1000"]
    init: true
    configs: [{source: conf, target: /etc/app.conf}]
    secrets: [token]
    deploy: {endpoint_mode: dnsrr}
  other:
    image: %s
    command: ["sleep", "1000"]
    init: true
    deploy: {endpoint_mode: dnsrr}
configs:
  conf: {file: ./app.conf}
secrets:
  token: {environment: TOKEN}
`, busybox, busybox),
		}
	}
	pr := newProject(t, "hoist-config", files("v1"))
	pr.envExtra = []string{"TOKEN=token-v1"}
	reload(t, pr)
	t.Cleanup(func() { pr.remove(t, e) })
	pr.deploy(t, ctx, e, "app", "other")
	before := objectNames(t, ctx, pr.name)
	if len(before) != 2 {
		t.Fatalf("objects %v, want one config and one secret", before)
	}
	otherVersion := version(t, ctx, pr.name, "other")

	for f, c := range files("v2") {
		pr.write(t, f, c)
	}
	pr.envExtra = []string{"TOKEN=token-v2"}
	reload(t, pr)
	got := pr.deploy(t, ctx, e, "app", "other")
	if got["app"].Change != swarm.Updated || got["other"].Change != swarm.Unchanged {
		t.Errorf("after the config change: %+v", got)
	}
	if v := version(t, ctx, pr.name, "other"); v != otherVersion {
		t.Errorf("other, which uses no config, went from version %d to %d", otherVersion, v)
	}
	after := objectNames(t, ctx, pr.name)
	if len(after) != 2 {
		t.Fatalf("objects after the change %v, want the new config and secret only", after)
	}
	for _, n := range after {
		if slices.Contains(before, n) {
			t.Errorf("object %s was kept: its content changed", n)
		}
		if !strings.HasPrefix(n, "config hoist-config_conf_") && !strings.HasPrefix(n, "secret hoist-config_token_") {
			t.Errorf("object %s is not named <project>_<key>_<hash>", n)
		}
	}
	eventually(t, 20*time.Second, func() error {
		lines := logsOf(t, ctx, e, pr.name, "app")
		if countContaining(lines, "setting=v2") == 0 || countContaining(lines, "token-v2") == 0 {
			return fmt.Errorf("app's new task did not print the new config and secret: %q", lines)
		}
		return nil
	})
}

func objectNames(t *testing.T, ctx context.Context, project string) []string {
	t.Helper()
	var out []string
	for _, l := range leftovers(t, ctx, project) {
		if strings.HasPrefix(l, "config ") || strings.HasPrefix(l, "secret ") {
			out = append(out, l)
		}
	}
	return out
}

// A node that dies takes its tasks with it; the manager makes new ones
// on the other nodes, and ps shows where each runs.
func TestNodeLossReschedules(t *testing.T) {
	e := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pr := loadProject(t, "hoist-nodeloss", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  a:
    image: %s
    command: ["sleep", "1000"]
    init: true
    deploy: {replicas: 3, endpoint_mode: dnsrr, placement: {max_replicas_per_node: 2}}
`, busybox)})
	script := repoFile("scripts/swarm-testbed.sh")
	t.Cleanup(func() {
		if out, err := exec.Command(script, "start", "n3").CombinedOutput(); err != nil {
			t.Errorf("start n3: %v\n%s", err, out)
		}
		eventually(t, time.Minute, func() error { return nodeState(t, "hoist-swarm-n3", dswarm.NodeStateReady) })
		pr.remove(t, e)
	})
	pr.deploy(t, ctx, e, "a")
	tasks, _ := e.Tasks(ctx, pr.name)
	onN3 := 0
	for _, tk := range tasks {
		if tk.DesiredState == "running" && tk.Node == "hoist-swarm-n3" {
			onN3++
		}
	}
	if onN3 == 0 {
		t.Fatalf("no task on n3 to lose: %+v", tasks)
	}
	if out, err := exec.Command(script, "kill", "n3").CombinedOutput(); err != nil {
		t.Fatalf("kill n3: %v\n%s", err, out)
	}
	eventually(t, time.Minute, func() error { return nodeState(t, "hoist-swarm-n3", dswarm.NodeStateDown) })
	if err := e.Wait(ctx, pr.name, "a", swarm.WaitOptions{Progress: func(p swarm.Progress) { t.Logf("%s", p) }}); err != nil {
		t.Fatal(err)
	}
	tasks, err := e.Tasks(ctx, pr.name)
	if err != nil {
		t.Fatal(err)
	}
	var running, lost []string
	for _, tk := range tasks {
		switch {
		case tk.DesiredState == "running" && tk.State == "running":
			running = append(running, tk.Name()+"@"+tk.Node)
			if tk.Node == "hoist-swarm-n3" {
				t.Errorf("%s runs on the dead node", tk.Name())
			}
		case tk.Node == "hoist-swarm-n3":
			lost = append(lost, tk.Name()+" "+tk.DesiredState)
		}
	}
	if len(running) != 3 || len(lost) == 0 {
		t.Errorf("after n3 died: running %v, tasks of n3 %v; want 3 running elsewhere and n3's shown", running, lost)
	}
}

// nodeState checks that the manager sees node hostname in state want.
func nodeState(t *testing.T, hostname string, want dswarm.NodeState) error {
	nodes, err := nodeClient(t, 0).NodeList(context.Background(), dswarm.NodeListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.Description.Hostname == hostname {
			if n.Status.State != want {
				return fmt.Errorf("node %s is %s, want %s", hostname, n.Status.State, want)
			}
			return nil
		}
	}
	return fmt.Errorf("no node %s", hostname)
}

// Preflight says, before anything is made, what would fail or hang.
func TestPreflight(t *testing.T) {
	e := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	taken := loadProject(t, "hoist-taken", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  holder:
    image: %s
    command: ["sleep", "1000"]
    init: true
    ports: [{target: 80, published: "7000", mode: host}]
    deploy: {endpoint_mode: dnsrr}
`, busybox)})
	t.Cleanup(func() { taken.remove(t, e) })
	taken.deploy(t, ctx, e, "holder")

	pr := loadProject(t, "hoist-preflight", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  mars:
    image: %[1]s
    deploy: {endpoint_mode: dnsrr, placement: {constraints: [node.labels.zone==mars]}}
  crowded:
    image: %[1]s
    deploy: {replicas: 4, endpoint_mode: dnsrr, placement: {max_replicas_per_node: 1}}
  mesh:
    image: %[1]s
    ports: ["8080:80"]
  clash:
    image: %[1]s
    ports: [{target: 80, published: "7000", mode: host}]
    deploy: {endpoint_mode: dnsrr}
  built:
    image: 192.168.250.1:5999/nowhere:1
    build: {context: .}
    deploy: {endpoint_mode: dnsrr}
  worker:
    image: %[1]s
    deploy: {endpoint_mode: dnsrr, placement: {constraints: [node.role==worker, node.hostname!=hoist-swarm-n2]}}
`, busybox), "Dockerfile": "FROM " + busybox + "\n"})
	var svcs []swarm.Service
	for _, n := range []string{"mars", "crowded", "mesh", "clash", "built", "worker"} {
		svcs = append(svcs, pr.service(t, n))
	}
	problems, err := e.Preflight(ctx, pr.name, svcs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	t.Logf("preflight:\n%s", strings.Join(got, "\n"))
	for _, want := range []string{
		`error: service "mars": deploy.placement.constraints: no ready node satisfies node.labels.zone==mars`,
		`error: service "crowded": deploy.placement.constraints: 4 replicas cannot fit: 3 eligible nodes × max_replicas_per_node 1`,
		`error: service "mesh": ports: port 80 is published on the routing mesh, which needs IPVS, and this kernel has none; publish it with mode: host (and deploy.endpoint_mode: dnsrr)`,
		`warning: service "mesh": deploy.endpoint_mode: the service's virtual IP (endpoint_mode vip) needs IPVS`,
		`error: service "clash": ports: port 7000/tcp is published by service hoist-taken_holder already`,
		`error: service "built": image: the registry of 192.168.250.1:5999/nowhere:1 does not answer the manager`,
		`warning: service "mars": image: the manager cannot resolve hoist-test/busybox:latest from a registry`,
	} {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, want) }) {
			t.Errorf("missing: %s", want)
		}
	}
	for _, g := range got {
		if strings.Contains(g, `"worker"`) && strings.HasPrefix(g, "error") {
			t.Errorf("worker's constraints are satisfiable (n3): %s", g)
		}
	}
}

// A daemon that is not a manager is refused with what it is.
func TestNotAManager(t *testing.T) {
	needBed(t)
	for _, c := range []struct{ host, want string }{
		{bed.nodes[1], "is a swarm worker"},
		{"unix:///var/run/docker.sock", "is not in a swarm"},
	} {
		t.Setenv("DOCKER_HOST", c.host)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := swarm.New(ctx)
		cancel()
		if !errors.Is(err, swarm.ErrNotManager) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New at %s: %v, want ErrNotManager saying it %s", c.host, err, c.want)
		}
	}
}
