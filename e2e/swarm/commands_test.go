package swarm

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/volume"
)

// down -v: each node holds its own copy of a named volume; the manager's
// node's copy is removed, and the other nodes that hold one are named,
// their copies left as they are.
func TestDownVolumes(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-volumes", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  keep:
    image: %s
    command: ["sh", "-c", "echo kept > /data/f; exec sleep 1000"]
    init: true
    volumes: [data:/data]
    deploy: {replicas: 3, endpoint_mode: dnsrr, placement: {max_replicas_per_node: 1}}
volumes:
  data: {}
`, busybox)})
	const vol = "hoist-e2e-volumes_data"
	// Whatever the test leaves, it removes on each node.
	t.Cleanup(func() {
		for _, n := range b.Nodes {
			dockerClient(t, n).VolumeRemove(context.Background(), vol, true)
		}
	})
	pr.must("up")
	hosts := map[string]string{} // hostname -> DOCKER_HOST
	for _, n := range b.Nodes {
		info, err := dockerClient(t, n).Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		hosts[info.Name] = n
		if _, err := dockerClient(t, n).VolumeInspect(context.Background(), vol); err != nil {
			t.Fatalf("before down, %s has no volume %s: %v", info.Name, vol, err)
		}
	}
	mgr, err := dockerClient(t, b.Manager).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var others []string
	for h := range hosts {
		if h != mgr.Name {
			others = append(others, h)
		}
	}
	if len(others) != 2 {
		t.Fatalf("nodes %v, manager %s", hosts, mgr.Name)
	}
	if others[0] > others[1] {
		others[0], others[1] = others[1], others[0]
	}

	r := pr.must("down", "-v")
	if !strings.Contains(r.stderr, "removed volume "+vol) {
		t.Errorf("down -v said nothing of removing %s on the manager's node", vol)
	}
	want := fmt.Sprintf("WARN volume %s is left on %s: the manager cannot reach another node's volumes; remove it there (docker volume rm %s)", vol, strings.Join(others, ", "), vol)
	if !strings.Contains(r.stderr, want) {
		t.Errorf("down -v did not say %q", want)
	}
	// What it says is so: gone on the manager's node, there on the others.
	if _, err := dockerClient(t, b.Manager).VolumeInspect(context.Background(), vol); err == nil {
		t.Errorf("%s is still on the manager's node %s", vol, mgr.Name)
	}
	for _, h := range others {
		if _, err := dockerClient(t, hosts[h]).VolumeInspect(context.Background(), vol); err != nil {
			t.Errorf("%s on %s, which down -v says it left: %v", vol, h, err)
		}
	}
	// Without -v no volume goes, and nothing is said of them.
	pr.must("up")
	r = pr.must("down")
	if strings.Contains(r.stderr, "removed volume") || strings.Contains(r.stderr, "WARN volume") {
		t.Errorf("down without -v spoke of volumes:\n%s", r.stderr)
	}
	vs, err := dockerClient(t, b.Manager).VolumeList(context.Background(), volume.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range vs.Volumes {
		found = found || v.Name == vol
	}
	if !found {
		t.Errorf("down without -v removed %s from the manager's node", vol)
	}
}

// hoist sees a stack that docker stack deployed: ls lists it, ps shows
// its tasks, down removes it and leaves nothing.
func TestDockerStack(t *testing.T) {
	b := needBed(t)
	const name = "hoist-e2e-stack"
	pr := newProject(t, b, name, map[string]string{"stack.yaml": fmt.Sprintf(`version: "3.8"
services:
  s:
    image: %s
    command: ["sleep", "1000"]
    deploy: {replicas: 2, endpoint_mode: dnsrr}
`, busybox)})
	docker(t, b, "stack", "deploy", "--detach=false", "-c", filepath.Join(pr.dir, "stack.yaml"), name)
	if ls := pr.must("ls").stdout; !regexp.MustCompile(`(?m)^` + name + `\s+running 2/2`).MatchString(ls) {
		t.Errorf("hoist ls: %q, want %s running 2/2", ls, name)
	}
	var running []string
	for _, tk := range pr.ps() {
		if tk.Service == "s" && tk.State == "running" && strings.HasPrefix(tk.Node, "hoist-swarm-n") {
			running = append(running, tk.Name+"@"+tk.Node)
		}
	}
	if len(running) != 2 {
		t.Errorf("hoist ps of the stack: running %v, want 2 tasks of s", running)
	}
	pr.down()
	if ls := docker(t, b, "stack", "ls"); strings.Contains(ls, name) {
		t.Errorf("docker stack ls after hoist down: %q", ls)
	}

	// And the other way: docker stack rm removes a project hoist made.
	pr.write(map[string]string{"compose.yaml": fmt.Sprintf("services:\n  h:\n    image: %s\n    command: [\"sleep\", \"1000\"]\n    deploy: {endpoint_mode: dnsrr}\n", busybox)})
	pr.must("up")
	if svcs := docker(t, b, "stack", "services", "--format", "{{.Name}} {{.Replicas}}", name); !strings.Contains(svcs, name+"_h 1/1") {
		t.Errorf("docker stack services of a hoist project: %q", svcs)
	}
	docker(t, b, "stack", "rm", "--detach=false", name)
	eventually(t, 30*time.Second, func() error {
		if left := leftovers(t, b, name); len(left) > 0 {
			return fmt.Errorf("after docker stack rm, %s left: %s", name, strings.Join(left, ", "))
		}
		return nil
	})
}

// up waits by default, -d does not, --wait-timeout bounds the wait, and
// a task's real error (the image no registry has) fails up.
func TestWaitFlags(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-wait", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  slow:
    image: %[1]s
    command: ["sh", "-c", "sleep 4; touch /tmp/ok; exec sleep 1000"]
    init: true
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ok"], interval: 500ms, timeout: 1s, retries: 30}
    deploy: {endpoint_mode: dnsrr}
  never:
    image: %[1]s
    command: ["sleep", "1000"]
    init: true
    healthcheck: {test: ["CMD", "false"], interval: 30s, timeout: 1s, retries: 3}
    deploy: {endpoint_mode: dnsrr}
  ghost:
    image: ${REGISTRY}/hoist-e2e/ghost:1
    deploy: {endpoint_mode: dnsrr}
`, busybox)})
	d := pr.must("up", "-d", "slow")
	if !strings.Contains(d.stderr, "service slow: created") || strings.Contains(d.stderr, "slow 1/1 running") || d.took > 4*time.Second {
		t.Errorf("up -d took %v and said:\n%s\nwant it to return once slow was created, before it is healthy", d.took, d.stderr)
	}
	if tasks := pr.ps("slow"); len(tasks) != 1 || tasks[0].State == "running" {
		t.Errorf("right after up -d, slow's tasks are %+v: want one, not yet running (healthy)", tasks)
	}
	w := pr.must("up", "slow")
	if !strings.Contains(w.stderr, "slow 1/1 running") {
		t.Errorf("up without -d did not wait for slow:\n%s", w.stderr)
	}

	r := pr.hoist("up", "--wait-timeout", "3", "never")
	if r.err == nil || r.took > 20*time.Second || !strings.Contains(r.stderr, "never 0/1 running") || !strings.Contains(r.stderr, "deadline") {
		t.Errorf("up --wait-timeout 3 of a service never healthy: %v after %v\n%s", r.err, r.took, r.stderr)
	}

	g := pr.hoist("up", "ghost")
	if g.err == nil || !strings.Contains(g.stderr, "tasks failed") || !strings.Contains(g.stderr, "hoist-e2e/ghost:1") {
		t.Errorf("up of an image no registry has: %v\n%s\nwant the tasks' error naming the image", g.err, g.stderr)
	}
	if !strings.Contains(g.stderr, "WARN") || !strings.Contains(g.stderr, "cannot resolve") {
		t.Errorf("up of an image no registry has gave no preflight warning:\n%s", g.stderr)
	}
	var errs []string
	for _, tk := range pr.ps("-a", "ghost") {
		if tk.Error != "" {
			errs = append(errs, tk.Error)
		}
	}
	if len(errs) == 0 {
		t.Errorf("ps -a ghost shows no task error")
	}
	t.Logf("ghost's task errors: %q", errs)
}
