package swarm_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dswarm "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/swarm"
	"github.com/hoist-dev/hoist/internal/swarmbed"
)

// The tests of this file run against the real 3-node test bed
// (scripts/swarm-testbed.sh): the first test that needs it starts it when
// it is not up, and TestMain takes it down again afterwards, so `go test ./engine/swarm` needs only
// root and docker. Without them the tests skip, unless
// HOIST_REQUIRE_DOCKER=1 (CI) or HOIST_REQUIRE_SWARM=1 makes that a
// failure. HOIST_SWARM_KEEP=1 leaves a test bed this run started up.

// bed is how to reach the test bed.
var bed struct {
	manager  string
	nodes    []string // DOCKER_HOST of n1..n3
	registry string
	err      error
}

// testbed starts the test bed on the first test that needs it (package
// swarmbed, shared with the CLI's tests), and TestMain releases it.
var (
	testbed swarmbed.Handle
	bedOnce sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := testbed.Release(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func startBed() {
	b, err := testbed.Get()
	if err != nil {
		bed.err = err
		return
	}
	bed.manager, bed.nodes, bed.registry = b.Manager, b.Nodes, b.Registry
}

func repoFile(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", rel)
}

// needBed skips (or, when required, fails) a test without the test bed.
func needBed(t *testing.T) {
	t.Helper()
	bedOnce.Do(startBed)
	if bed.err == nil && bed.manager != "" {
		return
	}
	err := bed.err
	if err == nil {
		err = fmt.Errorf("swarm-testbed.sh gave no manager")
	}
	if swarmbed.Required() {
		t.Fatalf("the swarm test bed is required: %v", err)
	}
	t.Skipf("no swarm test bed: %v", err)
}

// connect opens the swarm engine on the test bed's manager.
func connect(t *testing.T) *swarm.Engine {
	t.Helper()
	needBed(t)
	t.Setenv("DOCKER_HOST", bed.manager)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := swarm.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.Poll = 100 * time.Millisecond
	t.Cleanup(func() { e.Close() })
	return e
}

// nodeClient is a plain Engine API client of one node (0-based).
func nodeClient(t *testing.T, i int) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.WithHost(bed.nodes[i]), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// project is a compose project written to a temporary directory.
type project struct {
	dir  string
	name string
	p    *types.Project
	// envExtra are variables the compose files read besides REGISTRY.
	envExtra []string
}

// loadProject writes files (name -> content) and loads them as a compose
// project, as hoist would (compose.Load: .env, validation, ...).
func loadProject(t *testing.T, name string, files map[string]string, composeFiles ...string) *project {
	t.Helper()
	return reload(t, newProject(t, name, files), composeFiles...)
}

// newProject writes files without loading them.
func newProject(t *testing.T, name string, files map[string]string) *project {
	t.Helper()
	dir := t.TempDir()
	for f, content := range files {
		path := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &project{dir: dir, name: name}
}

func reload(t *testing.T, pr *project, composeFiles ...string) *project {
	t.Helper()
	if len(composeFiles) == 0 {
		composeFiles = []string{"compose.yaml"}
	}
	var paths []string
	for _, f := range composeFiles {
		if filepath.IsAbs(f) {
			paths = append(paths, f)
		} else {
			paths = append(paths, filepath.Join(pr.dir, f))
		}
	}
	p, err := compose.Load(context.Background(), compose.Options{Files: paths, Name: pr.name, Environ: append([]string{"REGISTRY=" + bed.registry}, pr.envExtra...), Swarm: true})
	if err != nil {
		t.Fatal(err)
	}
	pr.p = p
	return pr
}

func (pr *project) write(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(pr.dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// service is what an orchestrator would give the engine for one compose
// service: its resolved configuration and its build section.
func (pr *project) service(t *testing.T, name string) swarm.Service {
	t.Helper()
	p := pr.p
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("no service %s", name)
	}
	c, err := compose.ResolveWith(p, s, compose.ResolveOptions{Swarm: true})
	if err != nil {
		t.Fatal(err)
	}
	out := swarm.Service{Project: p.Name, Name: name, Config: c, ContainerName: s.ContainerName, Volumes: map[string]engine.VolumeSpec{}}
	for key, v := range p.Volumes {
		out.Volumes[v.Name] = engine.VolumeSpec{Name: v.Name, Project: p.Name, Key: key, Driver: v.Driver, Options: v.DriverOpts, Labels: v.Labels}
	}
	if b := s.Build; b != nil {
		out.Build = &engine.BuildSpec{Service: name, Context: b.Context, Dockerfile: b.Dockerfile, Inline: b.DockerfileInline,
			Args: map[string]*string(b.Args), Target: b.Target, Network: b.Network}
	}
	return out
}

// networks makes the project's networks, as the orchestrator would
// before the services.
func (pr *project) networks(t *testing.T, ctx context.Context, e *swarm.Engine) {
	t.Helper()
	for key, n := range pr.p.Networks {
		if n.External {
			if err := e.CheckExternalNetwork(ctx, n.Name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		spec := engine.NetworkSpec{Name: n.Name, Project: pr.p.Name, Key: key, Driver: n.Driver, Internal: n.Internal, Options: n.DriverOpts, Labels: n.Labels}
		if _, err := e.EnsureNetwork(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
}

// deploy converges the named services in the order given (the
// orchestrator's DAG does this from depends_on): build and push those
// with build:, apply, wait. It returns what Apply did to each.
func (pr *project) deploy(t *testing.T, ctx context.Context, e *swarm.Engine, names ...string) map[string]swarm.Applied {
	t.Helper()
	out, err := pr.tryDeploy(t, ctx, e, names...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (pr *project) tryDeploy(t *testing.T, ctx context.Context, e *swarm.Engine, names ...string) (map[string]swarm.Applied, error) {
	t.Helper()
	pr.networks(t, ctx, e)
	out := map[string]swarm.Applied{}
	for _, name := range names {
		s := pr.service(t, name)
		if s.Build != nil {
			pinned, err := e.BuildAndPush(ctx, s, nil)
			if err != nil {
				return out, err
			}
			s.Image = pinned
		}
		a, err := e.Apply(ctx, s)
		if err != nil {
			return out, err
		}
		out[name] = a
		err = e.Wait(ctx, pr.p.Name, name, swarm.WaitOptions{Progress: func(p swarm.Progress) { t.Logf("%s", p) }})
		if err != nil {
			return out, err
		}
	}
	if _, err := e.PruneObjects(ctx, pr.p.Name); err != nil {
		return out, err
	}
	return out, nil
}

// remove takes the project down and checks that nothing with its label
// is left on the manager or on any node.
func (pr *project) remove(t *testing.T, e *swarm.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := e.Remove(ctx, pr.p.Name, nil); err != nil {
		t.Fatalf("remove %s: %v", pr.p.Name, err)
	}
	// The manager forgets a task before its node removed the container
	// (about 2 s later here): the nodes are asked until they are clean.
	eventually(t, 30*time.Second, func() error {
		if left := leftovers(t, ctx, pr.p.Name); len(left) > 0 {
			return fmt.Errorf("after remove, %s left: %s", pr.p.Name, strings.Join(left, ", "))
		}
		return nil
	})
}

// leftovers lists what carries the project's stack label: services,
// networks, configs and secrets on the manager, and containers on every
// node.
func leftovers(t *testing.T, ctx context.Context, project string) []string {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", swarm.LabelNamespace+"="+project))
	var out []string
	m := nodeClient(t, 0)
	svcs, _ := m.ServiceList(ctx, dswarm.ServiceListOptions{Filters: f})
	for _, s := range svcs {
		out = append(out, "service "+s.Spec.Name)
	}
	nets, _ := m.NetworkList(ctx, network.ListOptions{Filters: f})
	for _, n := range nets {
		out = append(out, "network "+n.Name)
	}
	cfgs, _ := m.ConfigList(ctx, dswarm.ConfigListOptions{Filters: f})
	for _, c := range cfgs {
		out = append(out, "config "+c.Spec.Name)
	}
	secs, _ := m.SecretList(ctx, dswarm.SecretListOptions{Filters: f})
	for _, s := range secs {
		out = append(out, "secret "+s.Spec.Name)
	}
	for i := range bed.nodes {
		cs, err := nodeClient(t, i).ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Logf("node %d: %v", i+1, err)
			continue
		}
		for _, c := range cs {
			out = append(out, fmt.Sprintf("container %s on n%d", c.Names, i+1))
		}
	}
	sort.Strings(out)
	return out
}

// logsOf returns the project's log lines (no follow).
func logsOf(t *testing.T, ctx context.Context, e *swarm.Engine, project string, services ...string) []string {
	t.Helper()
	var out bytes.Buffer
	if err := e.Logs(ctx, project, services, engine.LogOptions{}, &out, &out); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// eventually retries check until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
