package swarm_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	dswarm "github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/engine/swarm"
	"github.com/hoist-dev/hoist/internal/swarmbed"
)

// hubClient is an HTTP client whose connections are made in the test
// bed's hub namespace: the nodes' host-mode ports are reachable there
// only.
func hubClient(t *testing.T) *http.Client {
	t.Helper()
	return swarmbed.HubClient(5 * time.Second)
}

// The seed's sample on three nodes: web built, pushed and pinned by
// digest, two replicas that start after db is healthy, answer on their
// nodes' host ports and count in one Redis; logs come from both nodes;
// ps names the nodes; docker stack sees the project; remove leaves
// nothing; a quick deploy right after works.
func TestSampleOnThreeNodes(t *testing.T) {
	e := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sample := repoFile("samples/flask-redis/compose.yaml")
	pr := newProject(t, "hoist-sample", map[string]string{"compose.swarm.yaml": `services:
  web:
    image: ${REGISTRY}/hoist-sample/web:1
    ports: !override
      - {target: 5001, published: "5001", mode: host}
    deploy: {replicas: 2, endpoint_mode: dnsrr}
  db:
    ports: !reset []
    deploy: {endpoint_mode: dnsrr}
`})
	pr.envExtra = []string{"PYTHON_IMAGE=hoist-local/python:3.11-bookworm", "REDIS_IMAGE=hoist-local/redis:7-bookworm"}
	reload(t, pr, sample, "compose.swarm.yaml")
	t.Cleanup(func() { pr.remove(t, e) })

	problems, err := e.Preflight(ctx, pr.name, []swarm.Service{pr.service(t, "db"), pr.service(t, "web")})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// The preloaded redis image is in no registry: a warning.
		if !p.Warning {
			t.Errorf("preflight: %s", p)
		}
	}

	pr.deploy(t, ctx, e, "db", "web")

	m := nodeClient(t, 0)
	web, _, err := m.ServiceInspectWithRaw(ctx, swarm.Scope(pr.name, "web"), dswarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := web.Spec.TaskTemplate.ContainerSpec.Image
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(bed.registry) + `/hoist-sample/web:1@sha256:[0-9a-f]{64}$`).MatchString(img) {
		t.Errorf("web runs %q, want its registry image pinned by digest", img)
	}

	tasks, err := e.Tasks(ctx, pr.name)
	if err != nil {
		t.Fatal(err)
	}
	var dbHealthy time.Time
	var webTasks []swarm.Task
	for _, tk := range tasks {
		if tk.DesiredState != "running" {
			continue
		}
		if tk.Node == "" || !strings.HasPrefix(tk.Node, "hoist-swarm-n") {
			t.Errorf("task %s has no node: %+v", tk.Name(), tk)
		}
		switch tk.Service {
		case "db":
			// A task with a healthcheck runs once it passed.
			dbHealthy = tk.Updated
		case "web":
			webTasks = append(webTasks, tk)
		}
	}
	if len(webTasks) != 2 || webTasks[0].Node == webTasks[1].Node {
		t.Fatalf("web tasks: %+v, want 2 on two nodes", webTasks)
	}
	for _, tk := range webTasks {
		if !tk.Created.After(dbHealthy) {
			t.Errorf("%s was made at %v, before db was healthy at %v", tk.Name(), tk.Created, dbHealthy)
		}
		if len(tk.Ports) != 1 || tk.Ports[0].HostPort != 5001 {
			t.Errorf("%s ports %+v, want 5001 on its node", tk.Name(), tk.Ports)
		}
	}

	// Each replica answers on its node, and they count in one Redis.
	hc := hubClient(t)
	seen := 0
	for round := 0; round < 2; round++ {
		for _, tk := range webTasks {
			n, _, err := m.NodeInspectWithRaw(ctx, tk.NodeID)
			if err != nil {
				t.Fatal(err)
			}
			url := fmt.Sprintf("http://%s:5001/", n.Status.Addr)
			resp, err := hc.Get(url)
			if err != nil {
				t.Fatalf("GET %s (%s): %v", url, tk.Name(), err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen++
			if want := fmt.Sprintf("I have been seen %d times.", seen); !strings.Contains(string(body), want) {
				t.Errorf("GET %s: %q, want %q", url, body, want)
			}
		}
	}

	// Logs come from both nodes, each line named after its task.
	nodesLogged := map[string]bool{}
	eventually(t, 20*time.Second, func() error {
		for _, l := range logsOf(t, ctx, e, pr.name, "web") {
			if m := regexp.MustCompile(`^web\.\d+@(hoist-swarm-n\d) \| .*"GET / HTTP`).FindStringSubmatch(l); m != nil {
				nodesLogged[m[1]] = true
			}
		}
		if len(nodesLogged) < 2 {
			return fmt.Errorf("web's requests logged from nodes %v, want two", nodesLogged)
		}
		return nil
	})

	// docker stack sees a stack.
	out, err := exec.CommandContext(ctx, "docker", "-H", bed.manager, "stack", "services", "--format", "{{.Name}} {{.Replicas}}", pr.name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hoist-sample_web 2/2") || !strings.Contains(string(out), "hoist-sample_db 1/1") {
		t.Errorf("docker stack services %s: %v\n%s", pr.name, err, out)
	}

	// Down, then a quick up works.
	pr.remove(t, e)
	pr.deploy(t, ctx, e, "db")
}
