package swarm

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dswarm "github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/internal/swarmbed"
)

// depends_on with condition service_started and no healthcheck: the
// dependent service is created only once every task of its dependency
// runs, by the manager's own timestamps. The project is driven with the
// --engine flag alone (HOIST_ENGINE says docker, which the flag
// overrides) through up, ps and down.
func TestStartedGatesDependent(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-started", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  dep:
    image: %[1]s
    command: ["sleep", "1000"]
    init: true
    deploy: {replicas: 2, endpoint_mode: dnsrr}
  app:
    image: %[1]s
    command: ["sleep", "1000"]
    init: true
    depends_on: {dep: {condition: service_started}}
    deploy: {endpoint_mode: dnsrr}
`, busybox)})
	pr.env = []string{"HOIST_ENGINE=docker"}
	up := pr.must("--engine", "swarm", "up")
	for _, want := range []string{"service dep: created", "dep 2/2 running", "service app: created", "app 1/1 running"} {
		if !strings.Contains(up.stderr, want) {
			t.Errorf("up said no %q", want)
		}
	}
	if strings.Index(up.stderr, "dep 2/2 running") > strings.Index(up.stderr, "service app: created") {
		t.Errorf("up created app before it saw dep's tasks running")
	}

	// The manager's view: app's service was made after each of dep's
	// tasks had turned running (a task without a healthcheck is running
	// once its container started).
	ctx := context.Background()
	m := dockerClient(t, b.Manager)
	app, _, err := m.ServiceInspectWithRaw(ctx, pr.name+"_app", dswarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := m.TaskList(ctx, dswarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", pr.name+"_dep"), filters.Arg("desired-state", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 {
		t.Fatalf("dep has %d tasks, want 2", len(ts))
	}
	for _, tk := range ts {
		if tk.Spec.ContainerSpec.Healthcheck != nil {
			t.Errorf("dep's task has a healthcheck %+v: the test is of service_started alone", tk.Spec.ContainerSpec.Healthcheck)
		}
		if tk.Status.State != dswarm.TaskStateRunning || !app.Meta.CreatedAt.After(tk.Status.Timestamp) {
			t.Errorf("app was created at %v; dep's task %s is %s since %v: want it running before", app.Meta.CreatedAt.Format(time.RFC3339Nano),
				tk.ID, tk.Status.State, tk.Status.Timestamp.Format(time.RFC3339Nano))
		}
	}
	t.Logf("dep's tasks running at %v and %v; app created at %v", ts[0].Status.Timestamp.Format(time.RFC3339Nano),
		ts[1].Status.Timestamp.Format(time.RFC3339Nano), app.Meta.CreatedAt.Format(time.RFC3339Nano))

	// ps and down with the flag act on the swarm (the docker engine
	// would find no container of the project on the manager's daemon).
	r := pr.must("--engine", "swarm", "ps", "--format", "json")
	for _, want := range []string{`"Service":"dep"`, `"Service":"app"`, `"Node":"hoist-swarm-n`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ps --engine swarm: %s lacks %s", r.stdout, want)
		}
	}
	pr.must("--engine", "swarm", "down")
	eventually(t, 30*time.Second, func() error {
		if left := leftovers(t, b, pr.name); len(left) > 0 {
			return fmt.Errorf("after down --engine swarm: %v", left)
		}
		return nil
	})
	pr.env = nil
}

// --engine swarm against a daemon that is no manager (a worker of the
// test bed, the machine's plain dockerd) fails in one line saying what
// that daemon is, for up, ps and down, and up makes nothing there.
func TestEngineFlagNotAManager(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-nomanager", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  a:
    image: %s
    command: ["sleep", "1000"]
    deploy: {endpoint_mode: dnsrr}
`, busybox)})
	plain := "unix:///var/run/docker.sock"
	if out, err := exec.Command("docker", "-H", plain, "info", "--format", "{{.Swarm.LocalNodeState}}").Output(); err != nil || strings.TrimSpace(string(out)) != "inactive" {
		t.Fatalf("the machine's dockerd should be in no swarm for this test: %v %q", err, out)
	}
	pr.env = []string{"HOIST_ENGINE=docker"}
	defer func() { pr.env = nil }()
	for _, c := range []struct{ host, want string }{
		{b.Nodes[1], "hoist: swarm engine: the Docker Engine at " + b.Nodes[1] + " is a swarm worker: not a swarm manager; point DOCKER_HOST at a manager"},
		{plain, `hoist: swarm engine: the Docker Engine at ` + plain + ` is not in a swarm (its state is "inactive"): not a swarm manager; run docker swarm init there`},
	} {
		for _, args := range [][]string{{"up", "-d"}, {"ps"}, {"down"}} {
			r := pr.hoistOn(c.host, append([]string{"--engine", "swarm"}, args...)...)
			if r.err == nil || !strings.HasPrefix(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("%s on %s: %v\n%s\nwant one line starting %q", args[0], c.host, r.err, r.stderr, c.want)
			}
		}
		cs, err := dockerClient(t, c.host).ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+pr.name))})
		if err != nil || len(cs) > 0 {
			t.Errorf("up on %s made containers %v (%v)", c.host, cs, err)
		}
	}
	if left := leftovers(t, b, pr.name); len(left) > 0 {
		t.Errorf("a refused up left %v", left)
	}
}

// A reservation no node has is refused by preflight, located, before
// anything is made. One that each node has but not for every replica
// leaves a task pending: up fails within --wait-timeout with the task's
// real error (no suitable node) naming the service, and down leaves
// nothing.
func TestNoSuitableNode(t *testing.T) {
	b := needBed(t)
	ctx := context.Background()
	nodes, err := dockerClient(t, b.Manager).NodeList(ctx, dswarm.NodeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	least := int64(0)
	for _, n := range nodes {
		if m := n.Description.Resources.MemoryBytes; least == 0 || m < least {
			least = m
		}
	}
	// 60% of the smallest node: one task fits on each node, a fourth
	// replica nowhere.
	most := least * 6 / 10 >> 20
	pr := newProject(t, b, "hoist-e2e-nonode", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  huge:
    image: %[1]s
    command: ["sleep", "1000"]
    deploy:
      endpoint_mode: dnsrr
      resources: {reservations: {memory: 1000G}}
  crowd:
    image: %[1]s
    command: ["sleep", "1000"]
    init: true
    deploy:
      replicas: 4
      endpoint_mode: dnsrr
      resources: {reservations: {memory: %[2]dM}}
`, busybox, most)})

	r := pr.hoist("up", "huge")
	if r.err == nil || !strings.Contains(r.stderr, `compose.yaml:7: service "huge": deploy.resources.reservations.memory: no eligible node has 1000.0 GiB of memory to reserve`) {
		t.Errorf("up of a 1000G reservation: %v\n%s\nwant preflight's located error", r.err, r.stderr)
	}
	if left := leftovers(t, b, pr.name); len(left) > 0 {
		t.Errorf("a refused up made %v", left)
	}

	const timeout = 8
	r = pr.hoist("up", "--wait-timeout", fmt.Sprint(timeout), "crowd")
	re := regexp.MustCompile(`service crowd: crowd 3/4 running: crowd\.\d+ pending: no suitable node \(insufficient resources on 3 nodes\) after \d+s: context deadline exceeded`)
	if r.err == nil || !re.MatchString(r.stderr) {
		t.Errorf("up of a replica no node has room for: %v\n%s\nwant %s", r.err, r.stderr, re)
	}
	if r.took > (timeout+10)*time.Second {
		t.Errorf("up took %v with --wait-timeout %d", r.took, timeout)
	}
	// What the manager has: three tasks running, one pending for want
	// of memory.
	ts, err := dockerClient(t, b.Manager).TaskList(ctx, dswarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", pr.name+"_crowd"), filters.Arg("desired-state", "running"))})
	if err != nil {
		t.Fatal(err)
	}
	states := map[dswarm.TaskState]int{}
	for _, tk := range ts {
		states[tk.Status.State]++
		if tk.Status.State == dswarm.TaskStatePending && !strings.Contains(tk.Status.Err, "insufficient resources") {
			t.Errorf("pending task's error %q", tk.Status.Err)
		}
	}
	if states[dswarm.TaskStateRunning] != 3 || states[dswarm.TaskStatePending] != 1 {
		t.Errorf("crowd's tasks are %v, want 3 running and 1 pending", states)
	}
	pr.down()
}

// tty and stdin_open reach the task's container on its node, and the
// process has a terminal.
func TestTTY(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-tty", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  term:
    image: %s
    command: ["sh", "-c", "if [ -t 1 ]; then echo stdout=tty; else echo stdout=pipe; fi; exec sleep 1000"]
    init: true
    tty: true
    stdin_open: true
    deploy: {endpoint_mode: dnsrr}
`, busybox)})
	pr.must("up")
	ctx := context.Background()
	svc, _, err := dockerClient(t, b.Manager).ServiceInspectWithRaw(ctx, pr.name+"_term", dswarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs := svc.Spec.TaskTemplate.ContainerSpec; !cs.TTY || !cs.OpenStdin {
		t.Errorf("service's container spec: TTY %v OpenStdin %v, want both", cs.TTY, cs.OpenStdin)
	}
	tasks := pr.ps("term")
	if len(tasks) != 1 || tasks[0].State != "running" {
		t.Fatalf("tasks of term: %+v", tasks)
	}
	c := taskContainer(t, b, tasks[0].Node, pr.name+"_term")
	if !c.Config.Tty || !c.Config.OpenStdin {
		t.Errorf("container on %s: Tty %v OpenStdin %v, want both", tasks[0].Node, c.Config.Tty, c.Config.OpenStdin)
	}
	eventually(t, 20*time.Second, func() error {
		if l := pr.must("logs", "term").stdout; !strings.Contains(l, "stdout=tty") {
			return fmt.Errorf("term's log %q, want stdout=tty", l)
		}
		return nil
	})
}

// taskContainer inspects the one container of service on the node named
// hostname.
func taskContainer(t *testing.T, b *swarmbed.Bed, hostname, service string) container.InspectResponse {
	t.Helper()
	ctx := context.Background()
	for _, n := range b.Nodes {
		c := dockerClient(t, n)
		info, err := c.Info(ctx)
		if err != nil || info.Name != hostname {
			continue
		}
		cs, err := c.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.name="+service))})
		if err != nil || len(cs) != 1 {
			t.Fatalf("containers of %s on %s: %v %v", service, hostname, cs, err)
		}
		ci, err := c.ContainerInspect(ctx, cs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return ci
	}
	t.Fatalf("no node %s", hostname)
	return container.InspectResponse{}
}

// A host-mode port that a container outside the swarm holds on the
// manager's node is refused by preflight, located, before anything is
// made. On a worker, whose containers the manager's API does not show,
// or by a listener outside Docker, the task there fails to bind and up
// fails with that task's error, naming the node. Once the port is free, up works, and a redeploy that changes
// nothing does not look at the node's containers again (the requests
// hoist sends are counted by a proxy of the manager's socket).
func TestHostPortHeld(t *testing.T) {
	b := needBed(t)
	const port = "7071"
	pr := newProject(t, b, "hoist-e2e-held", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  web:
    image: %s
    command: ["httpd", "-f", "-p", "80"]
    init: true
    ports: [{target: 80, published: "%s", mode: host}]
    deploy: {mode: global, endpoint_mode: dnsrr, restart_policy: {delay: 1s}}
`, busybox, port)})
	holder := "hoist-e2e-holder"
	mgr := b.Nodes[0]
	dk := func(host string, args ...string) string {
		t.Helper()
		out, err := exec.Command("docker", append([]string{"-H", host}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dk(mgr, "run", "-d", "--name", holder, "-p", port+":80", busybox, "sleep", "1000")
	t.Cleanup(func() { exec.Command("docker", "-H", mgr, "rm", "-f", holder).Run() })

	r := pr.hoist("up")
	want := `compose.yaml:6: service "web": ports: port ` + port + `/tcp is published by container ` + holder + ` on node hoist-swarm-n1, outside the swarm, already`
	if r.err == nil || !strings.Contains(r.stderr, want) {
		t.Errorf("up with port %s held on the manager's node: %v\n%s\nwant %q", port, r.err, r.stderr, want)
	}
	if left := leftovers(t, b, pr.name); len(left) > 0 {
		t.Errorf("a refused up made %v", left)
	}

	dk(mgr, "rm", "-f", holder)

	worker := b.Nodes[1]
	dk(worker, "run", "-d", "--name", holder, "-p", port+":80", busybox, "sleep", "1000")
	t.Cleanup(func() { exec.Command("docker", "-H", worker, "rm", "-f", holder).Run() })
	r = pr.hoist("up", "--wait-timeout", "60")
	re := regexp.MustCompile(`service web: \d+ tasks failed: web@hoist-swarm-n2 failed: starting container failed: .*Bind for 0\.0\.0\.0:` + port + ` failed: port is already allocated`)
	if r.err == nil || !re.MatchString(r.stderr) {
		t.Errorf("up with port %s held on a worker: %v\n%s\nwant %s", port, r.err, r.stderr, re)
	}
	pr.down()
	dk(worker, "rm", "-f", holder)

	// A listener outside Docker on the manager's node: no API shows it,
	// and the task there fails to bind.
	l, err := swarmbed.ListenOnNode("n1", "tcp", "0.0.0.0:"+port)
	if err != nil {
		t.Fatal(err)
	}
	r = pr.hoist("up", "--wait-timeout", "60")
	l.Close()
	re = regexp.MustCompile(`service web: \d+ tasks failed: web@hoist-swarm-n1 failed: .*0\.0\.0\.0:` + port + `: bind: address already in use`)
	if r.err == nil || !re.MatchString(r.stderr) {
		t.Errorf("up with port %s held by a listener on the manager's node: %v\n%s\nwant %s", port, r.err, r.stderr, re)
	}
	pr.down()

	proxy, paths := countingProxy(t, strings.TrimPrefix(b.Manager, "unix://"))
	pr.env = []string{"DOCKER_HOST=unix://" + proxy}
	pr.must("up")
	pr.env = nil
	if n := countPath(paths(), "/containers/json"); n != 1 {
		t.Errorf("the first up listed the node's containers %d times, want once", n)
	}
	// Each node's task answers on its port.
	hc := swarmbed.HubClient(5 * time.Second)
	for _, n := range []string{"hoist-swarm-n1", "hoist-swarm-n2", "hoist-swarm-n3"} {
		eventually(t, 10*time.Second, func() error {
			resp, err := hc.Get("http://" + nodeAddr(t, b, n) + ":" + port + "/")
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		})
	}
	pr.env = []string{"DOCKER_HOST=unix://" + proxy}
	before := len(paths())
	again := pr.must("up")
	pr.env = nil
	if !strings.Contains(again.stderr, "nothing to do") {
		t.Errorf("the redeploy was no no-op:\n%s", again.stderr)
	}
	if n := countPath(paths()[before:], "/containers/json"); n != 0 {
		t.Errorf("a no-op redeploy listed the node's containers %d times: %v", n, paths()[before:])
	}
}

// countingProxy serves HTTP on a unix socket of the test's, forwarding
// each request to the socket sock and remembering its path.
func countingProxy(t *testing.T, sock string) (string, func() []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker" },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// countPath counts the requests whose path ends in suffix (after the
// API version).
func countPath(reqs []string, suffix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasSuffix(r, suffix) {
			n++
		}
	}
	return n
}
