package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/hoist-dev/hoist/internal/testengine"
	"github.com/hoist-dev/hoist/internal/testimage"
)

// runEnv runs hoist with extra environment and reports whether
// SIGKILL ended it.
func (p *project) runEnv(extra []string, args ...string) (killed bool, out string, err error) {
	return p.h.runKilled(extra, p.dir, append([]string{"-p", p.name, "--progress", "plain", "--parallel", "1"}, args...)...)
}

// TestKillAtEveryStep kills hoist up (and build, which it runs), then
// hoist down, with SIGKILL after each operation of their plans in turn
// (HOIST_TEST_KILL_AFTER), and checks after each kill that the next up
// converges (every service healthy, the port answering, the volume's
// data there), that the store stays sound (system check --full) and that
// the next down leaves nothing. It reports the kill points tried.
func TestKillAtEveryStep(t *testing.T) {
	t.Run("native", func(t *testing.T) { killAtEveryStep(t, newHost(t)) })
	// dockerd does the work: what hoist must not lose when killed is its
	// own progress through the plan.
	t.Run("docker", func(t *testing.T) { killAtEveryStep(t, newDockerHost(t)) })
}

func killAtEveryStep(t *testing.T, h *host) {
	port := freePort(t)
	p := h.project("kill", fmt.Sprintf(`
services:
  web:
    build:
      context: .
      dockerfile_inline: |
        FROM %[1]s
        RUN mkdir -p /www && echo built > /www/index.html
    command: ["sh", "-c", "cp /www/index.html /data/ 2>/dev/null; httpd -f -p 8080 -h /data"]
    ports: ["127.0.0.1:%[2]d:8080"]
    volumes: [data:/data]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/index.html"]
      interval: 1s
      start_interval: 200ms
      start_period: 10s
    depends_on: [db]
  db:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
    networks: [default, back]
  worker:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
    networks: [back]
    depends_on:
      web: {condition: service_healthy}
networks:
  back: {}
volumes:
  data: {}
`, testImage, port))
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	converged := func(stage string) []string {
		t.Helper()
		p.hoist("up", "-d", "--wait")
		if got := p.states(); got != "db running\nweb running\nworker running\n" {
			t.Fatalf("%s: ps after up:\n%s", stage, got)
		}
		get(t, url, "built", 20*time.Second)
		h.checkClean()
		return p.ids()
	}

	upPoints, downPoints := 0, 0
	// downAll: a down at some n finished unkilled, so its every
	// operation had a kill after it.
	downAll := false
	var seen []string
	for n := 1; ; n++ {
		killed, out, err := p.runEnv([]string{fmt.Sprintf("HOIST_TEST_KILL_AFTER=%d", n)}, "up", "-d", "--wait")
		if err != nil {
			t.Fatalf("up killed after op %d: it failed instead: %v\n%s", n, err, out)
		}
		if !killed {
			break // the plan has fewer than n operations
		}
		upPoints++
		if n > 60 {
			t.Fatal("up was still killed after 60 operations")
		}
		ids := converged(fmt.Sprintf("up killed after op %d", n))
		seen = append(seen, ids...)

		// Down killed after its nth operation, then down again.
		killed, out, err = p.runEnv([]string{fmt.Sprintf("HOIST_TEST_KILL_AFTER=%d", n)}, "down", "-v", "-t", "0")
		if err != nil {
			t.Fatalf("down killed after op %d: it failed instead: %v\n%s", n, err, out)
		}
		if killed {
			downPoints++
			h.checkClean()
		} else {
			downAll = true
		}
		p.downClean(seen)
		h.checkClean()
	}
	if upPoints < 8 {
		t.Errorf("only %d kill points in up: the hook did not count the plan's operations", upPoints)
	}
	// Down stops and removes three containers and removes two networks
	// and a volume.
	if downPoints < 6 || !downAll {
		t.Errorf("%d kill points in down (all of them: %v): the hook did not count its operations", downPoints, downAll)
	}
	t.Logf("kill points tried: up (with its build) %d, down %d", upPoints, downPoints)
}

// killBuild is the project (FROM %s) whose build TestKillImageWrites and
// TestKillImageWritesDocker kill: steps slow enough for a kill to land
// inside them, and a layer of some size.
const killBuild = `
services:
  app:
    build:
      context: .
      dockerfile_inline: |
        FROM %s
        RUN echo one > /one && sleep 0.2
        COPY compose.yaml /compose.yaml
        RUN dd if=/dev/urandom of=/rand bs=64k count=16 && sleep 0.2
        RUN cat /one /compose.yaml > /both
`

// TestKillImageWrites kills hoist pull (from a registry in this process),
// hoist image load and hoist build at growing delays, SIGKILL each time,
// and checks that the store stays sound (system check --full finds
// nothing: no half-written blob, layer or index entry is referenced),
// that the next pull, load or build completes, and that no build left a
// network, mount or process behind once the next build ran.
func TestKillImageWrites(t *testing.T) {
	h := newHost(t)
	var rootfs bytes.Buffer
	if err := testimage.WriteRootfs(&rootfs); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(rootfs.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	ref := pushImage(t, img, "kill/busybox:1")
	archive := archiveImage(t, img, "example.com/kill/loaded:1")

	pr := h.project("pull", "services:\n  app:\n    image: "+ref+"\n")
	br := h.project("bld", fmt.Sprintf(killBuild, testImage))
	points := 0
	for _, c := range []struct {
		dir  string
		args []string
		ref  string
	}{
		{pr.dir, []string{"-p", pr.name, "pull"}, ref},
		{"", []string{"image", "load", "-i", archive}, "example.com/kill/loaded:1"},
		{br.dir, []string{"-p", br.name, "build"}, br.name + "-app"},
	} {
		for delay := 5 * time.Millisecond; delay < 3*time.Second; delay = delay * 3 / 2 {
			killed := h.killAfter(c.dir, delay, c.args...)
			h.checkClean()
			if !killed {
				break // it finished before the kill
			}
			points++
		}
		h.must(c.dir, c.args...)
		h.must("", "image", "inspect", c.ref)
		h.checkClean()
	}
	// A killed build's network goes at the next build that runs a RUN
	// step (buildnet's sweep), its scratch dirs and mounts at the next
	// build (build's sweepTmp).
	br.hoist("build", "--no-cache")
	if left := testengine.NativeBuildLeftovers(h.runDir, 0); left != "" {
		t.Errorf("killed builds left, after the next build:\n%s", left)
	}
	if m := h.mounts(); len(m) != 0 {
		t.Errorf("killed builds left mounts: %v", m)
	}
	if ps := h.pids(nil); len(ps) != 0 {
		t.Errorf("killed builds left processes: %v", ps)
	}
	for _, pid := range killedPids {
		if cgs, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/hoist/hoist-build-%d-*", pid)); len(cgs) > 0 {
			t.Errorf("killed builds left cgroups: %v", cgs)
		}
	}
	br.hoist("run", "--rm", "app", "cat", "/both")
	t.Logf("kills at growing delays in pull, image load and build: %d", points)
}

// killedPids are the hoist processes killAfter started.
var killedPids []int

// killAfter starts hoist args and sends it SIGKILL after delay; it
// reports whether the kill ended it (else it finished first).
func (h *host) killAfter(dir string, delay time.Duration, args ...string) bool {
	h.t.Helper()
	cmd := exec.Command(hoistBin, args...)
	cmd.Env, cmd.Dir = h.env, dir
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	killedPids = append(killedPids, cmd.Process.Pid)
	timer := time.AfterFunc(delay, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
		h.t.Fatalf("hoist %s failed: %v\n%s", strings.Join(args, " "), err, b.String())
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return false
}

// TestKillAtEveryWrite kills hoist pull (from a registry in this
// process), hoist image load and hoist build right after each write the
// native store makes durable, in turn (HOIST_TEST_KILL_AFTER_WRITE: a
// blob, an unpacked layer, the image index, a build cache entry), each
// time from the same store, and checks after each kill that the store is
// sound (system check --full finds nothing) and that the same command
// then completes. It reports the kill points tried.
func TestKillAtEveryWrite(t *testing.T) {
	h := newHost(t)
	img := randomImage(t)
	ref := pushImage(t, img, "kill/junk:1")
	loaded := "example.com/kill/loaded:1"
	archive := archiveImage(t, img, loaded)
	pr := h.project("pull", "services:\n  app:\n    image: "+ref+"\n")
	// SALT changes every step's cache key: each try builds every step.
	br := h.project("bld", fmt.Sprintf(`
services:
  app:
    build:
      context: .
      dockerfile_inline: |
        FROM %s
        ARG SALT
        RUN echo $SALT > /salt
        COPY compose.yaml /compose.yaml
        RUN dd if=/dev/urandom of=/rand bs=64k count=4
        RUN cat /salt /compose.yaml > /both
`, testImage))
	for _, c := range []struct {
		what string
		dir  string
		args func(n int) []string
		ref  string
		// min is the fewest writes the command makes: fewer kill points
		// mean the hook does not see the store's writes.
		min int
		// reset takes the store back to where the command began (the
		// image removed, and its blobs and layers with it), so that the
		// next try makes the same writes.
		reset bool
	}{
		{"pull", pr.dir, func(int) []string { return []string{"-p", pr.name, "pull"} }, ref, 5, true},
		{"image load", "", func(int) []string { return []string{"image", "load", "-i", archive} }, loaded, 5, true},
		{"build", br.dir, func(n int) []string {
			return []string{"-p", br.name, "build", "--build-arg", fmt.Sprintf("SALT=%d", n)}
		}, br.name + "-app", 12, false},
	} {
		points := 0
		for n := 1; ; n++ {
			killed, out, err := h.runKilled([]string{fmt.Sprintf("HOIST_TEST_KILL_AFTER_WRITE=%d", n)}, c.dir, c.args(n)...)
			if err != nil {
				t.Fatalf("%s killed after write %d: it failed instead: %v\n%s", c.what, n, err, out)
			}
			if !killed {
				break
			}
			points++
			if n > 100 {
				t.Fatalf("%s was still killed after 100 writes", c.what)
			}
			h.checkClean()
			h.must(c.dir, c.args(n)...)
			h.must("", "image", "inspect", c.ref)
			h.checkClean()
			if c.reset {
				h.must("", "image", "rm", c.ref)
			}
		}
		if points < c.min {
			t.Errorf("%s: only %d kill points, want at least %d: the hook did not see the store's writes", c.what, points, c.min)
		}
		t.Logf("kill points tried in %s (after each durable write): %d", c.what, points)
	}
	br.hoist("run", "--rm", "app", "cat", "/both")
}

// runKilled runs hoist args in dir with extra environment and reports
// whether SIGKILL ended it.
func (h *host) runKilled(extra []string, dir string, args ...string) (killed bool, out string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hoistBin, args...)
	cmd.Dir, cmd.Env = dir, append(append([]string(nil), h.env...), extra...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, b.String(), nil
		}
	}
	return false, b.String(), err
}

// TestKillImageWritesDocker is TestKillImageWrites where it applies to
// the docker engine: dockerd keeps the store (its consistency is its
// own), so what a hoist killed at a growing delay in pull (from a
// registry in this process), image load or build must not break is the
// same command run next, which must complete and leave the image there.
func TestKillImageWritesDocker(t *testing.T) {
	h := newDockerHost(t)
	img := randomImage(t)
	suffix := make([]byte, 3)
	rand.Read(suffix)
	tag := hex.EncodeToString(suffix)
	ref := pushImage(t, img, "kill/junk:"+tag)
	loaded := "example.com/kill/loaded:" + tag
	archive := archiveImage(t, img, loaded)
	t.Cleanup(func() { h.run(nil, "", "image", "rm", "-f", ref, loaded) })
	pr := h.project("pull", "services:\n  app:\n    image: "+ref+"\n")
	br := h.project("bld", fmt.Sprintf(killBuild, testImage))
	for _, c := range []struct {
		what string
		dir  string
		args []string
		ref  string
	}{
		{"pull", pr.dir, []string{"-p", pr.name, "pull"}, ref},
		{"image load", "", []string{"image", "load", "-i", archive}, loaded},
		{"build", br.dir, []string{"-p", br.name, "build"}, br.name + "-app"},
	} {
		points := 0
		for delay := 5 * time.Millisecond; delay < 3*time.Second; delay = delay * 3 / 2 {
			if !h.killAfter(c.dir, delay, c.args...) {
				break // it finished before the kill
			}
			points++
			h.must(c.dir, c.args...)
			h.must("", "image", "inspect", c.ref)
		}
		if points == 0 {
			t.Errorf("%s finished before the first kill", c.what)
		}
		t.Logf("kills at growing delays in %s: %d", c.what, points)
	}
	br.hoist("run", "--rm", "app", "cat", "/both")
}
