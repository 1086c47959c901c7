// Package swarm runs the hoist binary with --engine swarm against the
// real 3-node test bed (scripts/swarm-testbed.sh, through
// internal/swarmbed, which the engine's own tests share). The engine's
// primitives are tested in engine/swarm; these tests hold what the CLI
// says and does: up's progress, no-op and rollback reports, ps, logs,
// down, the refused commands and keys.
//
// Without root and docker the tests skip, unless HOIST_REQUIRE_DOCKER=1
// or HOIST_REQUIRE_SWARM=1 makes that a failure. Traffic goes only to the
// test bed's namespaces (its hub, where the nodes' addresses answer).
package swarm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dswarm "github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/hoist-dev/hoist/internal/swarmbed"
)

const busybox = "hoist-test/busybox:latest"

var (
	testbed swarmbed.Handle
	// hoistBin is the binary TestMain built.
	hoistBin string
	buildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hoist-e2e-swarm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hoistBin = filepath.Join(dir, "hoist")
	cmd := exec.Command("go", "build", "-o", hoistBin, "./cmd/hoist")
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build: %v\n%s", err, out)
	}
	code := m.Run()
	if err := testbed.Release(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// needBed returns the test bed, or skips (fails when required).
func needBed(t *testing.T) *swarmbed.Bed {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	b, err := testbed.Get()
	if err != nil {
		if swarmbed.Required() {
			t.Fatalf("the swarm test bed is required: %v", err)
		}
		t.Skipf("no swarm test bed: %v", err)
	}
	return b
}

// project is a directory with compose files that the tests run hoist in.
type project struct {
	t    *testing.T
	bed  *swarmbed.Bed
	dir  string
	name string
	env  []string
}

func newProject(t *testing.T, b *swarmbed.Bed, name string, files map[string]string) *project {
	t.Helper()
	pr := &project{t: t, bed: b, dir: t.TempDir(), name: name}
	pr.write(files)
	t.Cleanup(func() { pr.down() })
	return pr
}

func (pr *project) write(files map[string]string) {
	pr.t.Helper()
	for f, content := range files {
		path := filepath.Join(pr.dir, f)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			pr.t.Fatal(err)
		}
	}
}

// result is one run of hoist.
type result struct {
	stdout, stderr string
	err            error
	took           time.Duration
}

// hoist runs the binary in the project's directory on the test bed's
// manager; the engine is chosen by HOIST_ENGINE, as a user would set it.
func (pr *project) hoist(args ...string) result {
	pr.t.Helper()
	return pr.hoistOn(pr.bed.Manager, args...)
}

func (pr *project) hoistOn(dockerHost string, args ...string) result {
	pr.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hoistBin, append([]string{"-p", pr.name, "--progress", "plain"}, args...)...)
	cmd.Dir = pr.dir
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost, "HOIST_ENGINE=swarm", "REGISTRY="+pr.bed.Registry, "DOCKER_CONTEXT=")
	cmd.Env = append(cmd.Env, pr.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), err: err, took: time.Since(start)}
	pr.t.Logf("hoist %s (%.1fs): %v\n%s%s", strings.Join(args, " "), r.took.Seconds(), err, indent(r.stdout), indent(r.stderr))
	return r
}

// must runs hoist and fails the test when it fails.
func (pr *project) must(args ...string) result {
	pr.t.Helper()
	r := pr.hoist(args...)
	if r.err != nil {
		pr.t.Fatalf("hoist %s: %v\n%s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

// down takes the project down with the CLI and checks that nothing with
// its label is left on the manager or on any node.
func (pr *project) down() {
	pr.t.Helper()
	pr.must("down")
	// The manager forgets a task a little before its node removed the
	// container: the nodes are asked until they are clean.
	eventually(pr.t, 30*time.Second, func() error {
		if left := leftovers(pr.t, pr.bed, pr.name); len(left) > 0 {
			return fmt.Errorf("after down, %s left: %s", pr.name, strings.Join(left, ", "))
		}
		return nil
	})
}

// task is one line of hoist ps --format json.
type task struct {
	Name, ID, Service, Node, State, DesiredState, Error, Ports, Image string
	Slot, ExitCode                                                    int
}

func (pr *project) ps(args ...string) []task {
	pr.t.Helper()
	r := pr.must(append([]string{"ps", "--format", "json"}, args...)...)
	var out []task
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		pr.t.Fatalf("ps --format json: %v\n%s", err, r.stdout)
	}
	return out
}

// client is a plain Engine API client of a node (DOCKER_HOST).
func dockerClient(t *testing.T, host string) *client.Client {
	t.Helper()
	c, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// versions are the spec versions of the project's services.
func versions(t *testing.T, b *swarmbed.Bed, project string) map[string]uint64 {
	t.Helper()
	svcs, err := dockerClient(t, b.Manager).ServiceList(context.Background(), dswarm.ServiceListOptions{
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+project))})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, s := range svcs {
		out[strings.TrimPrefix(s.Spec.Name, project+"_")] = s.Version.Index
	}
	return out
}

// leftovers lists what carries the project's stack label: services,
// networks, configs and secrets on the manager, containers on every node.
func leftovers(t *testing.T, b *swarmbed.Bed, project string) []string {
	t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+project))
	var out []string
	m := dockerClient(t, b.Manager)
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
	for i, n := range b.Nodes {
		cs, err := dockerClient(t, n).ContainerList(ctx, container.ListOptions{All: true, Filters: f})
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
