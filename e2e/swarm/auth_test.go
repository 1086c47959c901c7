package swarm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/hoist-dev/hoist/internal/swarmbed"
)

// Credentials for a registry that wants a login travel from the user's
// docker config to the nodes, which have none of their own: a service
// whose image was pushed there, and one that hoist builds and pushes
// there, run on the two workers only. Without a login, up stops before
// anything is made with a located error saying which docker login to
// run.
func TestRegistryCredentialsTravel(t *testing.T) {
	b := needBed(t)
	if b.AuthRegistry == "" {
		t.Fatal("the test bed names no registry with a login (HOIST_SWARM_AUTH_REGISTRY)")
	}
	pushed := b.AuthRegistry + "/hoist-e2e/auth-busybox:1"
	built := b.AuthRegistry + "/hoist-e2e/auth-built:1"
	pushWithLogin(t, b, busybox, pushed)
	// No worker may have the images already: each must pull them.
	for _, n := range b.Nodes[1:] {
		for _, ref := range []string{pushed, built} {
			dockerClient(t, n).ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true})
		}
	}
	workers := `
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      placement:
        constraints: [node.role==worker]
        max_replicas_per_node: 1
`
	files := map[string]string{
		"compose.yaml": "services:\n  web:\n    image: " + pushed + workers +
			"  built:\n    image: " + built + "\n    build: ." + workers,
		"Dockerfile": "FROM " + busybox + "\nLABEL hoist.e2e=registry-credentials\n",
	}

	// Without a login: located errors for both images, and nothing made.
	anon := newProject(t, b, "hoist-e2e-noauth", files)
	anon.env = []string{"DOCKER_CONFIG=" + dockerConfig(t, nil)}
	r := anon.hoist("up")
	if r.err == nil {
		t.Fatal("up without a login succeeded")
	}
	for service, ref := range map[string]string{"web": pushed, "built": built} {
		line := lineOf(t, files["compose.yaml"], "image: "+ref)
		prefix := regexp.QuoteMeta("compose.yaml:"+strconv.Itoa(line)+`: service "`+service+`": image: `) + `the registry ` + regexp.QuoteMeta(b.AuthRegistry) +
			` refuses ` + regexp.QuoteMeta(ref) + ` without a login \(.*\); run docker login ` + regexp.QuoteMeta(b.AuthRegistry) + `:`
		if !regexp.MustCompile(`(?m)` + prefix + `.*$`).MatchString(r.stderr) {
			t.Errorf("up without a login: no line matching %q in:\n%s", prefix, r.stderr)
		}
	}
	if left := leftovers(t, b, anon.name); len(left) > 0 {
		t.Errorf("up without a login made: %s", strings.Join(left, ", "))
	}

	// With the login in DOCKER_CONFIG: every task runs on a worker.
	pr := newProject(t, b, "hoist-e2e-auth", files)
	pr.env = []string{"DOCKER_CONFIG=" + dockerConfig(t, b)}
	up := pr.must("up")
	for _, want := range []string{"web 2/2 running", "built 2/2 running"} {
		if !strings.Contains(up.stderr, want) {
			t.Errorf("up said no %q", want)
		}
	}
	nodes := map[string]map[string]bool{}
	for _, tk := range pr.ps() {
		if tk.State != "running" {
			t.Errorf("task %s is %s (%s)", tk.Name, tk.State, tk.Error)
		}
		if tk.Node == "hoist-swarm-n1" || !strings.HasPrefix(tk.Node, "hoist-swarm-n") {
			t.Errorf("task %s runs on %q, want a worker", tk.Name, tk.Node)
		}
		if nodes[tk.Service] == nil {
			nodes[tk.Service] = map[string]bool{}
		}
		nodes[tk.Service][tk.Node] = true
		if tk.Service == "built" && !regexp.MustCompile(`^`+regexp.QuoteMeta(built)+`@sha256:[0-9a-f]{64}$`).MatchString(tk.Image) {
			t.Errorf("built runs %q, want %s pinned by the digest pushed", tk.Image, built)
		}
	}
	for _, s := range []string{"web", "built"} {
		if len(nodes[s]) != 2 {
			t.Errorf("%s runs on %v, want both workers", s, nodes[s])
		}
	}
}

// dockerConfig is a DOCKER_CONFIG directory with the test bed's login
// for its registry with a login, or with no login when b is nil.
func dockerConfig(t *testing.T, b *swarmbed.Bed) string {
	t.Helper()
	dir := t.TempDir()
	cfg := `{"auths": {}}`
	if b != nil {
		auth := base64.StdEncoding.EncodeToString([]byte(b.AuthUser + ":" + b.AuthPassword))
		cfg = `{"auths": {"` + b.AuthRegistry + `": {"auth": "` + auth + `"}}}`
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pushWithLogin tags src as ref on the manager and pushes it with the
// test bed's login, then untags it there: the registry has it, no node.
func pushWithLogin(t *testing.T, b *swarmbed.Bed, src, ref string) {
	t.Helper()
	ctx := context.Background()
	m := dockerClient(t, b.Manager)
	if err := m.ImageTag(ctx, src, ref); err != nil {
		t.Fatal(err)
	}
	defer m.ImageRemove(ctx, ref, image.RemoveOptions{})
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: b.AuthUser, Password: b.AuthPassword, ServerAddress: b.AuthRegistry})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := m.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	defer rc.Close()
	if err := pushError(rc); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// pushError is the error the daemon reports inside a push's progress.
func pushError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct{ Error string }
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// lineOf is the 1-based line of text that holds s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", s)
	return 0
}
