package swarm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	dswarm "github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/internal/swarmbed"
)

// The seed's sample on three nodes through the CLI: web is built, pushed
// and pinned, starts after db is healthy, runs 2 replicas that answer on
// their nodes' host ports and count in one Redis; up reports per-service
// progress; a redeploy with nothing changed is a no-op and says so; ps
// names the nodes, logs come from both web nodes, images shows the pin;
// down leaves nothing on any node and an up right after works.
func TestSample(t *testing.T) {
	b := needBed(t)
	sample := repoRoot() + "/samples/flask-redis/compose.yaml"
	pr := newProject(t, b, "hoist-e2e-sample", map[string]string{"compose.swarm.yaml": `services:
  web:
    image: ${REGISTRY}/hoist-e2e/web:1
    ports: !override
      - {target: 5001, published: "5001", mode: host}
    deploy: {replicas: 2, endpoint_mode: dnsrr}
  db:
    ports: !reset []
    deploy: {endpoint_mode: dnsrr}
`})
	pr.env = []string{"PYTHON_IMAGE=hoist-local/python:3.11-bookworm", "REDIS_IMAGE=hoist-local/redis:7-bookworm"}
	files := []string{"-f", sample, "-f", "compose.swarm.yaml"}

	plan := pr.must(append(files, "up", "--dry-run")...)
	if want := "network hoist-e2e-sample_default\ncreate service db\ncreate service web\n"; plan.stdout != want {
		t.Errorf("up --dry-run printed %q, want %q", plan.stdout, want)
	}
	up := pr.must(append(files, "up")...)
	for _, want := range []string{"service db: created", "db 1/1 running", "service web: created", "web 2/2 running"} {
		if !strings.Contains(up.stderr, want) {
			t.Errorf("up said no %q", want)
		}
	}
	// db converged (healthy) before web was created.
	if strings.Index(up.stderr, "db 1/1 running") > strings.Index(up.stderr, "service web: created") {
		t.Errorf("web was created before db was healthy")
	}
	webAfterHealthyDB(t, b, pr.name)

	tasks := pr.ps()
	var webNodes []string
	for _, tk := range tasks {
		if !strings.HasPrefix(tk.Node, "hoist-swarm-n") || tk.State != "running" {
			t.Errorf("ps: task %+v, want running on a node of the test bed", tk)
		}
		if tk.Service == "web" {
			webNodes = append(webNodes, tk.Node)
			if tk.Ports != "*:5001->5001/tcp" {
				t.Errorf("ps: %s ports %q", tk.Name, tk.Ports)
			}
			if !regexp.MustCompile(`^` + regexp.QuoteMeta(b.Registry) + `/hoist-e2e/web:1@sha256:[0-9a-f]{64}$`).MatchString(tk.Image) {
				t.Errorf("web task runs %q, want its registry image pinned by digest", tk.Image)
			}
		}
	}
	if len(webNodes) != 2 || webNodes[0] == webNodes[1] {
		t.Fatalf("web tasks on nodes %v, want two nodes", webNodes)
	}
	table := pr.must("ps").stdout
	for _, n := range webNodes {
		if !strings.Contains(table, n) {
			t.Errorf("ps does not show node %s:\n%s", n, table)
		}
	}

	// Each replica answers on its node's address, and they count in one
	// Redis.
	hc := swarmbed.HubClient(5 * time.Second)
	seen := 0
	for round := 0; round < 2; round++ {
		for _, n := range webNodes {
			url := fmt.Sprintf("http://%s:5001/", nodeAddr(t, b, n))
			resp, err := hc.Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen++
			if want := fmt.Sprintf("I have been seen %d times.", seen); !strings.Contains(string(body), want) {
				t.Errorf("GET %s: %q, want %q", url, body, want)
			}
		}
	}

	// logs: lines from both web nodes, named service.slot@node.
	eventually(t, 20*time.Second, func() error {
		nodes := map[string]bool{}
		// Flask logs its requests on stderr, which logs keeps apart.
		r := pr.must(append(files, "logs", "web")...)
		for _, l := range strings.Split(r.stderr, "\n") {
			if m := regexp.MustCompile(`^web\.\d+@(hoist-swarm-n\d) \| .*"GET / HTTP`).FindStringSubmatch(l); m != nil {
				nodes[m[1]] = true
			}
		}
		if len(nodes) < 2 {
			return fmt.Errorf("hoist logs web: requests logged from nodes %v, want two", nodes)
		}
		return nil
	})
	if tail := pr.must("logs", "--tail", "1", "-t", "db").stdout; !regexp.MustCompile(`^db\.1@hoist-swarm-n\d \| \d{4}-\d\d-\d\dT`).MatchString(tail) ||
		strings.Count(tail, "\n") != 1 {
		t.Errorf("logs --tail 1 -t db: %q, want one timestamped line", tail)
	}
	if im := pr.must("images").stdout; !strings.Contains(im, "@sha256:") {
		t.Errorf("images: %q, want web's pinned image", im)
	}
	if ls := pr.must("ls").stdout; !regexp.MustCompile(`hoist-e2e-sample\s+running 3/3`).MatchString(ls) {
		t.Errorf("ls: %q", ls)
	}

	// docker stack sees the project as a stack, with its tasks on the
	// nodes.
	stackLs := docker(t, b, "stack", "ls", "--format", "{{.Name}} {{.Services}}")
	if !regexp.MustCompile(`(?m)^hoist-e2e-sample 2$`).MatchString(stackLs) {
		t.Errorf("docker stack ls: %q, want hoist-e2e-sample with 2 services", stackLs)
	}
	stackPs := docker(t, b, "stack", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.Node}} {{.CurrentState}}", pr.name)
	for _, n := range webNodes {
		if !regexp.MustCompile(`(?m)^hoist-e2e-sample_web\.\d ` + n + ` Running`).MatchString(stackPs) {
			t.Errorf("docker stack ps: %q, want a web task running on %s", stackPs, n)
		}
	}

	// A redeploy with nothing changed: no update, and up says so.
	before := versions(t, b, pr.name)
	again := pr.must(append(files, "up")...)
	if !strings.Contains(again.stderr, "nothing to do") || regexp.MustCompile(`service \w+: (updated|created)`).MatchString(again.stderr) {
		t.Errorf("a no-op up said:\n%s", again.stderr)
	}
	if after := versions(t, b, pr.name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("service versions went from %v to %v on a no-op up", before, after)
	}
	t.Logf("no-op redeploy took %v", again.took)
	if dry := pr.must(append(files, "up", "--dry-run")...).stdout; !strings.Contains(dry, "unchanged service web") || !strings.Contains(dry, "nothing to do") {
		t.Errorf("up --dry-run of an unchanged project: %q", dry)
	}

	// down leaves nothing, and an up right after works.
	pr.down()
	pr.must(append(files, "up", "db")...)
}

// webAfterHealthyDB checks the manager's timestamps: a task with a
// healthcheck turns running only once its check passed (Swarm waits for
// the container's health), and each web task was made after db's did.
func webAfterHealthyDB(t *testing.T, b *swarmbed.Bed, project string) {
	t.Helper()
	ts, err := dockerClient(t, b.Manager).TaskList(context.Background(), dswarm.TaskListOptions{
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+project), filters.Arg("desired-state", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	var dbHealthy time.Time
	var webMade []time.Time
	for _, tk := range ts {
		cs := tk.Spec.ContainerSpec
		switch cs.Labels["com.docker.compose.service"] {
		case "db":
			if cs.Healthcheck == nil || len(cs.Healthcheck.Test) == 0 {
				t.Errorf("db's task has no healthcheck: %+v", cs.Healthcheck)
			}
			if tk.Status.State == dswarm.TaskStateRunning {
				dbHealthy = tk.Status.Timestamp
			}
		case "web":
			webMade = append(webMade, tk.Meta.CreatedAt)
		}
	}
	if dbHealthy.IsZero() || len(webMade) != 2 {
		t.Fatalf("db healthy at %v, web tasks made at %v: want db running and two web tasks", dbHealthy, webMade)
	}
	for _, w := range webMade {
		if !w.After(dbHealthy) {
			t.Errorf("a web task was made at %v, before db was healthy at %v", w, dbHealthy)
		}
	}
	t.Logf("db healthy at %v; web tasks made at %v", dbHealthy.Format(time.RFC3339Nano), webMade)
}

// docker runs the docker CLI on the test bed's manager.
func docker(t *testing.T, b *swarmbed.Bed, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"-H", b.Manager}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONTEXT=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nodeAddr is the address of a node of the test bed, by hostname.
func nodeAddr(t *testing.T, b *swarmbed.Bed, hostname string) string {
	t.Helper()
	nodes, err := dockerClient(t, b.Manager).NodeList(context.Background(), dswarm.NodeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Description.Hostname == hostname {
			return n.Status.Addr
		}
	}
	t.Fatalf("no node %s", hostname)
	return ""
}

// A job gates its dependent; editing one service's environment updates
// that service only; a changed config rotates (the old one goes); restart
// and scale act on the swarm.
func TestRedeploys(t *testing.T) {
	b := needBed(t)
	files := func(color, setting string) map[string]string {
		return map[string]string{
			"app.conf": "setting=" + setting + "\n",
			"compose.yaml": fmt.Sprintf(`services:
  migrate:
    image: %[1]s
    command: ["sh", "-c", "sleep 2; echo migrated"]
    deploy: {mode: replicated-job}
  app:
    image: %[1]s
    command: ["sh", "-c", "cat /etc/app.conf; exec sleep 1000"]
    init: true
    environment: {COLOR: %[2]s}
    configs: [{source: conf, target: /etc/app.conf}]
    depends_on:
      migrate: {condition: service_completed_successfully}
    deploy: {endpoint_mode: dnsrr}
  other:
    image: %[1]s
    command: ["sh", "-c", "i=0; while :; do i=$$((i+1)); echo tick $$i; sleep 1; done"]
    init: true
    deploy: {endpoint_mode: dnsrr}
configs:
  conf: {file: ./app.conf}
`, busybox, color)}
	}
	pr := newProject(t, b, "hoist-e2e-redeploy", files("blue", "v1"))
	up := pr.must("up")
	if !strings.Contains(up.stderr, "migrate 1/1 completed") {
		t.Errorf("up did not report the job's completion")
	}
	if strings.Index(up.stderr, "migrate 1/1 completed") > strings.Index(up.stderr, "service app: created") {
		t.Errorf("app was created before migrate completed")
	}
	// The manager's view: app's task was made after the job's completed.
	m := dockerClient(t, b.Manager)
	ts, err := m.TaskList(context.Background(), dswarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+pr.name))})
	if err != nil {
		t.Fatal(err)
	}
	var jobDone, appMade time.Time
	for _, tk := range ts {
		switch tk.Spec.ContainerSpec.Labels["com.docker.compose.service"] {
		case "migrate":
			jobDone = tk.Status.Timestamp
		case "app":
			appMade = tk.Meta.CreatedAt
		}
	}
	if jobDone.IsZero() || !appMade.After(jobDone) {
		t.Errorf("app's task made at %v, the job completed at %v", appMade, jobDone)
	}

	// One service's environment: only that service is updated.
	v1 := versions(t, b, pr.name)
	pr.write(files("green", "v1"))
	up = pr.must("up")
	for _, want := range []string{"service app: updated", "service other: unchanged", "service migrate: unchanged"} {
		if !strings.Contains(up.stderr, want) {
			t.Errorf("up after app's env changed said no %q", want)
		}
	}
	v2 := versions(t, b, pr.name)
	if v2["other"] != v1["other"] || v2["migrate"] != v1["migrate"] || v2["app"] == v1["app"] {
		t.Errorf("versions %v -> %v: want only app's to change", v1, v2)
	}

	// A config's content: a new config, app rolls to it, the old one goes.
	cfgs := func() []string {
		cs, err := m.ConfigList(context.Background(), dswarm.ConfigListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+pr.name))})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.Spec.Name)
		}
		return out
	}
	old := cfgs()
	pr.write(files("green", "v2"))
	up = pr.must("up")
	if !strings.Contains(up.stderr, "service app: updated") || !strings.Contains(up.stderr, "removed unused "+old[0]) {
		t.Errorf("up after the config changed did not update app and remove %s", old[0])
	}
	if now := cfgs(); len(now) != 1 || now[0] == old[0] {
		t.Errorf("configs %v after the change, were %v: want one new", now, old)
	}
	eventually(t, 20*time.Second, func() error {
		if l := pr.must("logs", "app").stdout; !strings.Contains(l, "setting=v2") {
			return fmt.Errorf("app's new task did not print the new config: %q", l)
		}
		return nil
	})

	// logs -f --tail 1 follows: after the last line so far, lines that
	// did not exist yet arrive, prefixed with their task and node.
	followLogs(t, pr, "other")

	// restart replaces app's task; scale sets other's replicas.
	before := pr.ps("app")
	pr.must("restart", "app")
	after := pr.ps("app")
	if len(before) != 1 || len(after) != 1 || before[0].ID == after[0].ID {
		t.Errorf("restart app: tasks %v -> %v, want a new one", before, after)
	}
	sc := pr.must("scale", "other=2")
	if !strings.Contains(sc.stderr, "other 2/2 running") {
		t.Errorf("scale other=2 did not report 2/2")
	}
	// The scale is no change of the compose file: a redeploy keeps it.
	pr.must("up")
	if n := len(pr.ps("other")); n != 2 {
		t.Errorf("other has %d tasks after an up following scale, want 2", n)
	}
}

// followLogs runs logs -f --tail 1 of a service that prints "tick N"
// each second and wants, after the one line of the tail, the two next
// ticks: a plain logs would have ended after the first.
func followLogs(t *testing.T, pr *project, service string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hoistBin, "-p", pr.name, "logs", "-f", "--tail", "1", service)
	cmd.Dir = pr.dir
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+pr.bed.Manager, "HOIST_ENGINE=swarm", "DOCKER_CONTEXT=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	line := regexp.MustCompile(`^` + service + `\.1@hoist-swarm-n\d \| tick (\d+)$`)
	sc := bufio.NewScanner(out)
	var got []string
	first := -1
	for sc.Scan() {
		got = append(got, sc.Text())
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("logs -f: line %q, want %s.1@NODE | tick N", sc.Text(), service)
		}
		n, _ := strconv.Atoi(m[1])
		if first < 0 {
			first = n
			continue
		}
		if n == first+2 {
			t.Logf("logs -f followed: %q", got)
			return
		}
	}
	t.Fatalf("logs -f --tail 1 %s ended (%v) after %q, want the tick after next", service, ctx.Err(), got)
}

// An update whose new tasks fail their healthcheck is rolled back, and
// up fails saying so with the task's error.
func TestRollback(t *testing.T) {
	b := needBed(t)
	yaml := func(mode string) map[string]string {
		return map[string]string{"compose.yaml": fmt.Sprintf(`services:
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
`, busybox, mode)}
	}
	pr := newProject(t, b, "hoist-e2e-rollback", yaml("good"))
	pr.must("up")
	pr.write(yaml("bad"))
	r := pr.hoist("up")
	if r.err == nil {
		t.Fatal("up of an unhealthy update succeeded")
	}
	if !strings.Contains(r.stderr, "rolled back") || !strings.Contains(r.stderr, "unhealthy") {
		t.Errorf("up of an unhealthy update said:\n%s\nwant the rollback and the task's error", r.stderr)
	}
	// ps -a keeps the failed task, with its node and its error.
	var failed []task
	for _, tk := range pr.ps("-a") {
		if strings.Contains(tk.Error, "unhealthy") {
			failed = append(failed, tk)
			if !strings.HasPrefix(tk.Node, "hoist-swarm-n") || tk.DesiredState == "running" {
				t.Errorf("ps -a: the unhealthy task %+v, want its node and a desired state other than running", tk)
			}
		}
	}
	if len(failed) == 0 {
		t.Errorf("ps -a shows no task with the unhealthy error")
	} else if table := pr.must("ps", "-a").stdout; !strings.Contains(table, "ERROR") || !strings.Contains(table, failed[0].Error) {
		t.Errorf("ps -a table shows no ERROR column with %q:\n%s", failed[0].Error, table)
	}
	// The old spec runs again; reverting the file is a converged no-op.
	pr.write(yaml("good"))
	again := pr.must("up")
	if !strings.Contains(again.stderr, "nothing to do") {
		t.Errorf("up of the spec the rollback restored said:\n%s", again.stderr)
	}
}

// A node that dies takes its tasks with it; the manager makes new ones
// on the other nodes, and ps shows both.
func TestNodeLoss(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-nodeloss", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  a:
    image: %s
    command: ["sleep", "1000"]
    init: true
    deploy: {replicas: 3, endpoint_mode: dnsrr, placement: {max_replicas_per_node: 2}}
`, busybox)})
	pr.must("up")
	onN3 := 0
	for _, tk := range pr.ps() {
		if tk.Node == "hoist-swarm-n3" {
			onN3++
		}
	}
	if onN3 == 0 {
		t.Fatal("no task on n3 to lose")
	}
	// Restored before the project's down (cleanups run last first).
	t.Cleanup(func() {
		if err := b.StartNode("n3"); err != nil {
			t.Error(err)
		}
		eventually(t, time.Minute, func() error {
			nodes, err := dockerClient(t, b.Manager).NodeList(context.Background(), dswarm.NodeListOptions{})
			if err != nil {
				return err
			}
			for _, n := range nodes {
				if n.Status.State != dswarm.NodeStateReady {
					return fmt.Errorf("node %s is %s", n.Description.Hostname, n.Status.State)
				}
			}
			return nil
		})
	})
	if err := b.Kill("n3"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, func() error {
		var running, lost []string
		for _, tk := range pr.ps("-a") {
			switch {
			case tk.DesiredState == "running" && tk.State == "running" && tk.Node != "hoist-swarm-n3":
				running = append(running, tk.Name+"@"+tk.Node)
			case tk.Node == "hoist-swarm-n3" && tk.DesiredState != "running":
				lost = append(lost, tk.Name)
			}
		}
		if len(running) != 3 || len(lost) == 0 {
			return fmt.Errorf("after n3 died, ps -a shows running %v and n3's tasks %v; want 3 running elsewhere and n3's shut down", running, lost)
		}
		return nil
	})
}

// Keys Swarm cannot honour are located one-line errors (or warnings,
// which --strict makes errors) before anything is made; a worker is not
// a manager; container-level commands are refused in one line.
func TestRefusals(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-refused", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  a:
    image: %[1]s
    privileged: true
    network_mode: host
    pid: host
    ipc: host
    container_name: fixed
    devices: ["/dev/null:/dev/null"]
    volumes_from: [b]
  b:
    image: %[1]s
    shm_size: 64m
    cgroup_parent: mine
    links: [c]
    deploy: {endpoint_mode: dnsrr}
  c:
    image: %[1]s
    deploy: {endpoint_mode: dnsrr}
  d:
    image: %[1]s
    volumes: ["./here:/here", "data:/data"]
    deploy: {replicas: 2, endpoint_mode: dnsrr}
  e:
    image: %[1]s
    healthcheck: {test: ["CMD", "true"], start_period: 5s, start_interval: 1s}
    volumes: [{type: volume, source: data, target: /d, volume: {subpath: sub}}]
    deploy: {endpoint_mode: dnsrr, placement: {constraints: [node.role==manager]}}
  f:
    build: {context: .}
    deploy: {endpoint_mode: dnsrr}
  mesh:
    image: %[1]s
    ports: ["8080:80"]
volumes:
  data: {}
`, busybox), "Dockerfile": "FROM " + busybox + "\n"})
	r := pr.hoist("up", "a", "f")
	if r.err == nil {
		t.Fatal("up of unsupported keys succeeded")
	}
	for _, want := range []string{
		`compose.yaml:4: service "a": privileged:`,
		`compose.yaml:5: service "a": network_mode:`,
		`compose.yaml:6: service "a": pid:`,
		`compose.yaml:7: service "a": ipc:`,
		`compose.yaml:8: service "a": container_name:`,
		`compose.yaml:9: service "a": devices:`,
		`compose.yaml:10: service "a": volumes_from:`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("up said no %q", want)
		}
	}
	// A build with no image: naming a registry is refused before anything
	// is built.
	if !regexp.MustCompile(`compose\.yaml:\d+: service "f": image: the service has build: and no image: naming a registry`).MatchString(r.stderr) {
		t.Errorf("up said nothing of f's build without a registry image")
	}
	if strings.Contains(r.stderr, "build") && strings.Contains(r.stderr, "started") {
		t.Errorf("up built something although it refused the project")
	}
	if left := leftovers(t, b, pr.name); len(left) > 0 {
		t.Errorf("a refused up made %v", left)
	}
	// Warnings only: up works, --strict fails on them.
	warn := pr.must("up", "--dry-run", "b", "c")
	for _, want := range []string{`compose.yaml:13: service "b": shm_size:`, `compose.yaml:14: service "b": cgroup_parent:`, `compose.yaml:15: service "b": links:`} {
		if !strings.Contains(warn.stderr, "WARN "+want) {
			t.Errorf("up said no warning %q", want)
		}
	}
	// Local storage behind a service that runs on several nodes, and
	// fields the manager's API version (1.41 on Engine 20.10) would drop.
	warn = pr.must("up", "--dry-run", "d", "e")
	for _, want := range []string{
		`compose.yaml:22: service "d": volumes: bind mount /here: each node binds its own`,
		`compose.yaml:22: service "d": volumes: volume /data: each node has its own volume "hoist-e2e-refused_data"`,
		`compose.yaml:26: service "e": healthcheck.start_interval: healthcheck start_interval needs Engine API 1.44; the manager speaks 1.41`,
		`compose.yaml:27: service "e": volumes: a volume's subpath needs Engine API 1.45; the manager speaks 1.41`,
	} {
		if !strings.Contains(warn.stderr, "WARN "+want) {
			t.Errorf("up said no warning %q", want)
		}
	}
	if strings.Contains(warn.stderr, `service "e": volumes: volume /d`) {
		t.Errorf("a volume of a service pinned to one node was warned about")
	}
	// This machine's kernel has no IPVS: the routing mesh and a virtual
	// IP would carry nothing, and up says what to use instead.
	mesh := pr.hoist("up", "mesh")
	if mesh.err == nil || !strings.Contains(mesh.stderr, `compose.yaml:34: service "mesh": ports: port 80 is published on the routing mesh, which needs IPVS, and this kernel has none`) ||
		!strings.Contains(mesh.stderr, "mode: host") || !strings.Contains(mesh.stderr, "endpoint_mode: dnsrr") {
		t.Errorf("up of a routing-mesh port without IPVS: %v\n%s", mesh.err, mesh.stderr)
	}

	// config is engine-free: it needs no manager.
	cfg := pr.hoistOn(b.Nodes[1], "config")
	if cfg.err != nil || !strings.Contains(cfg.stdout, "name: hoist-e2e-refused") || !strings.Contains(cfg.stdout, "container_name: fixed") {
		t.Errorf("config on the swarm engine: %v\n%s", cfg.err, cfg.stdout)
	}
	strict := pr.hoist("up", "--strict", "b", "c")
	if strict.err == nil || !strings.Contains(strict.stderr, "--strict") || !strings.Contains(strict.stderr, "shm_size") {
		t.Errorf("up --strict with warnings: %v\n%s", strict.err, strict.stderr)
	}

	// A worker is no manager.
	w := pr.hoistOn(b.Nodes[1], "ps")
	if w.err == nil || !strings.Contains(w.stderr, "is a swarm worker") {
		t.Errorf("ps on a worker: %v %s", w.err, w.stderr)
	}
	// Container-level commands: one line each.
	for _, args := range [][]string{{"exec", "a", "true"}, {"cp", "a:/etc/hostname", "."}, {"stop"}, {"run", "a"}} {
		r := pr.hoist(args...)
		want := "hoist: hoist " + args[0] + ": not supported by the swarm engine (it runs services, not containers)\n"
		if r.err == nil || r.stderr != want {
			t.Errorf("hoist %s on the swarm engine: %v %q, want %q", args[0], r.err, r.stderr, want)
		}
	}
}
