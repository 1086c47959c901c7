// Package reliability drives the real hoist binary on the native engine
// through what a daemonless engine must survive (issue 17): a reboot
// (hoist system boot), a damaged store (hoist system check), a full disk,
// long use (the soak) and a hoist killed at every step of a plan.
//
// Each test has a native store and run dir of its own (HOIST_ROOT and
// HOIST_RUN_DIR under its temporary directory), so what it damages,
// kills or fills is its own; project names carry a random suffix, since
// links and nftables tables are host-wide. It needs root and a static
// busybox (internal/testimage); with HOIST_REQUIRE_NATIVE=1 (CI) their
// absence fails instead of skipping.
package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testengine"
	"github.com/hoist-dev/hoist/internal/testimage"
)

var (
	hoistBin string
	repoRoot string
	skipWhy  string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	tmp, err := os.MkdirTemp("", "hoist-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	switch {
	case os.Geteuid() != 0:
		skipWhy = "the native engine needs root"
	case testimage.Available() != nil:
		skipWhy = testimage.Available().Error()
	}
	if skipWhy != "" && os.Getenv("HOIST_REQUIRE_NATIVE") == "1" {
		fmt.Fprintf(os.Stderr, "HOIST_REQUIRE_NATIVE=1: %s\n", skipWhy)
		return 1
	}
	if skipWhy == "" {
		hoistBin = filepath.Join(tmp, "hoist")
		if err := testengine.BuildHoist(context.Background(), repoRoot, hoistBin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// host is one test's native engine: its store, run dir and environment.
type host struct {
	t      testing.TB
	root   string
	runDir string
	env    []string
	// docker: the docker engine (dockerd), no native store.
	docker bool
}

// newDockerHost is the docker engine for t: dockerd must answer (with
// HOIST_REQUIRE_DOCKER=1 it must, else t skips) and have the test image.
func newDockerHost(t testing.TB) *host {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := testengine.DockerPing(ctx)
	if err == nil {
		err = testengine.EnsureDockerTestImage(ctx)
	}
	if err != nil {
		if os.Getenv("HOIST_REQUIRE_DOCKER") == "1" {
			t.Fatalf("HOIST_REQUIRE_DOCKER=1: %v", err)
		}
		t.Skipf("docker: %v", err)
	}
	return &host{t: t, docker: true, env: append(os.Environ(), "HOIST_ENGINE=docker", "HOIST_CACHE_DIR=off")}
}

// newHost makes a native store and run dir for t and imports the busybox
// test image into it.
func newHost(t testing.TB) *host {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	if err := testengine.SeeSources(repoRoot); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h := newHostAt(t, filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	h.importBusybox()
	return h
}

func newHostAt(t testing.TB, root, runDir string) *host {
	return &host{t: t, root: root, runDir: runDir, env: append(os.Environ(),
		"HOIST_ENGINE=native", "HOIST_ROOT="+root, "HOIST_RUN_DIR="+runDir,
		"DOCKER_HOST=unix:///nonexistent", "HOIST_CACHE_DIR=off")}
}

const testImage = testengine.TestImage

func (h *host) importBusybox() {
	h.t.Helper()
	var buf bytes.Buffer
	if err := testimage.WriteRootfs(&buf); err != nil {
		h.t.Fatal(err)
	}
	h.mustIn(&buf, "", "image", "import", "--change", `CMD ["sh"]`, "-", testImage)
}

// run runs hoist in dir with args and returns its stdout, stderr and
// error.
func (h *host) run(stdin io.Reader, dir string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hoistBin, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, h.env, stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (h *host) mustIn(stdin io.Reader, dir string, args ...string) string {
	h.t.Helper()
	out, errs, err := h.run(stdin, dir, args...)
	if err != nil {
		h.t.Fatalf("hoist %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

// must runs hoist in dir and fails the test when it fails.
func (h *host) must(dir string, args ...string) string {
	h.t.Helper()
	return h.mustIn(nil, dir, args...)
}

// check runs hoist system check --full and fails the test on a problem.
func (h *host) checkClean() {
	h.t.Helper()
	if h.docker {
		return // dockerd's store is its own
	}
	out, errs, err := h.run(nil, "", "system", "check", "--full")
	if err != nil || out != "" {
		h.t.Fatalf("hoist system check --full: %v\n%s%s", err, out, errs)
	}
}

// project is a compose project of a test, in a directory of its own.
type project struct {
	h    *host
	name string
	dir  string
}

func (h *host) project(prefix, compose string) *project {
	h.t.Helper()
	suffix := make([]byte, 3)
	rand.Read(suffix)
	p := &project{h: h, name: prefix + hex.EncodeToString(suffix), dir: h.t.TempDir()}
	if err := os.WriteFile(filepath.Join(p.dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		// Whatever a failed test left: down, and no processes.
		args := []string{"-p", p.name, "--progress", "quiet", "down", "-v", "-t", "0", "--remove-orphans"}
		if h.docker {
			args = append(args, "--rmi", "local")
		}
		h.run(nil, p.dir, args...)
	})
	return p
}

func (p *project) hoist(args ...string) string {
	p.h.t.Helper()
	return p.h.must(p.dir, append([]string{"-p", p.name, "--progress", "plain"}, args...)...)
}

func (p *project) try(args ...string) (string, string, error) {
	return p.h.run(nil, p.dir, append([]string{"-p", p.name, "--progress", "plain"}, args...)...)
}

// states is `ps -a` as "service state" lines, sorted by service.
func (p *project) states() string {
	p.h.t.Helper()
	return p.hoist("ps", "-a", "--format", "{{.Service}} {{.State}}")
}

// freePort is a TCP port on 127.0.0.1 nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// get GETs url until the body contains want or the deadline passes.
func get(t testing.TB, url, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		c := http(url)
		if strings.Contains(c, want) {
			return
		}
		last = c
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %q, want %q", url, last, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// http is a bare HTTP/1.0 GET of a loopback URL's path, or the error.
func http(url string) string {
	hostport, path, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
	if !strings.HasPrefix(hostport, "127.") {
		return "not a loopback URL"
	}
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET /%s HTTP/1.0\r\n\r\n", path)
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 {
		return err.Error()
	}
	return string(b)
}
