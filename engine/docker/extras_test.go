package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

// testProject returns a unique project whose containers are removed when
// the test ends, pass or fail.
func testProject(t *testing.T, b *Backend) string {
	var buf [5]byte
	_, _ = rand.Read(buf[:])
	project := "hoistdocker" + hex.EncodeToString(buf[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := b.Observe(ctx, project, nil)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, c := range st.Containers {
			if err := b.RemoveContainer(ctx, c.ID, engine.RemoveOptions{Force: true, Volumes: true}); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return project
}

func labelledSpec(project, service string, n int, img string, cmd ...string) engine.ContainerSpec {
	init := true
	c := runspec.Container{
		Image:   img,
		Process: runspec.Process{Command: cmd, Init: &init},
		Restart: runspec.Restart{Mode: runspec.RestartNo},
		Labels:  map[string]string{engine.LabelProject: project, engine.LabelService: service, engine.LabelNumber: fmt.Sprint(n)},
	}
	return engine.ContainerSpec{Project: project, Service: service, Name: fmt.Sprintf("%s-%s-%d", project, service, n), Number: n, Config: c}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestKillTopTTYLogs(t *testing.T) {
	b := newRealBackend(t)
	img := ensureTestImage(t, b)
	ctx := testCtx(t)
	spec := labelledSpec(testProject(t, b), "tty", 1, img, "sh", "-c", "echo tty-out; exec sleep 600")
	spec.Config.Process.TTY = true
	id, err := b.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctx, id, engine.WaitRunning); err != nil {
		t.Fatal(err)
	}
	titles, rows, err := b.Top(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(titles, " "), "PID") || !strings.Contains(fmt.Sprint(rows), "sleep 600") {
		t.Errorf("Top = %v %v, want a PID column and the sleep", titles, rows)
	}
	if err := b.Kill(ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	c, err := b.Wait(ctx, id, engine.WaitExited)
	if err != nil {
		t.Fatal(err)
	}
	if c.ExitCode != 137 {
		t.Errorf("exit code after SIGKILL = %d, want 137", c.ExitCode)
	}
	// A TTY container's log is one raw stream: all of it is stdout.
	var stdout, stderr bytes.Buffer
	if err := b.Logs(ctx, id, engine.LogOptions{Follow: true}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "tty-out\r\n" || stderr.Len() != 0 {
		t.Errorf("TTY logs stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if err := b.Kill(ctx, "hoist-no-such-container", "SIGKILL"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Kill unknown = %v, want ErrNotFound", err)
	}
}

func TestBuildPushPull(t *testing.T) {
	b := newRealBackend(t)
	base := ensureTestImage(t, b)
	ctx := testCtx(t)
	// An in-process registry on 127.0.0.1, which dockerd treats as an
	// insecure (plain HTTP) registry by default.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	ref := strings.TrimPrefix(reg.URL, "http://") + "/hoist-test/built:" + fmt.Sprint(time.Now().UnixNano())
	t.Cleanup(func() { _ = b.RemoveImage(context.Background(), ref, true) })

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"ctx.txt":       "from-context\n",
		"ignored.txt":   "x",
		".dockerignore": "ignored.txt\n",
	})
	greeting := "hi"
	var lines []string
	id, err := b.Build(ctx, engine.BuildSpec{
		Tag:     ref,
		Context: dir,
		Inline: "FROM " + base + "\nARG GREETING\nCOPY . /ctx/\nRUN echo \"$GREETING\" > /greeting\n" +
			"CMD [\"sh\", \"-c\", \"cat /greeting /ctx/ctx.txt; test -e /ctx/ignored.txt && echo leaked\"]\n",
		Args:   map[string]*string{"GREETING": &greeting},
		Labels: map[string]string{"dev.hoist.test": "yes"},
	}, func(s string) { lines = append(lines, s) })
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if got, err := b.ImageID(ctx, ref); err != nil || got != id {
		t.Errorf("ImageID(tag) = %q, %v; want %q", got, err, id)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "Step 1/") {
		t.Errorf("no step progress in %q", lines)
	}

	spec := labelledSpec(testProject(t, b), "built", 1, ref)
	spec.Config.Process.Init = nil
	cid, err := b.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StartContainer(ctx, cid); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctx, cid, engine.WaitExited); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := b.Logs(ctx, cid, engine.LogOptions{}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if want := "hi\nfrom-context\n"; out.String() != want {
		t.Errorf("built image printed %q, want %q", out.String(), want)
	}
	if err := b.RemoveContainer(ctx, cid, engine.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}

	var pushed []string
	if err := b.Push(ctx, ref, func(s string) { pushed = append(pushed, s) }); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if len(pushed) == 0 {
		t.Error("Push reported no progress")
	}
	if err := b.RemoveImage(ctx, ref, false); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	if _, err := b.ImageID(ctx, ref); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("ImageID after remove = %v, want ErrNotFound", err)
	}
	if err := b.Pull(ctx, ref, nil); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if got, err := b.ImageID(ctx, ref); err != nil || got != id {
		t.Errorf("ImageID after pull = %q, %v; want %q", got, err, id)
	}
	missing := strings.TrimPrefix(reg.URL, "http://") + "/hoist-test/none:1"
	if err := b.Pull(ctx, missing, nil); err == nil {
		t.Error("Pull of a missing image succeeded")
	}
}

func TestBuildErrors(t *testing.T) {
	b := newRealBackend(t)
	base := ensureTestImage(t, b)
	ctx := testCtx(t)
	_, err := b.Build(ctx, engine.BuildSpec{Tag: "hoist-test/fail:1", Context: t.TempDir(), Inline: "FROM " + base + "\nRUN exit 3\n"}, nil)
	if err == nil || !strings.Contains(err.Error(), "non-zero code: 3") {
		t.Errorf("failing RUN: %v", err)
	}
	_, err = b.Build(ctx, engine.BuildSpec{Tag: "hoist-test/fail:1", Context: filepath.Join(t.TempDir(), "absent")}, nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "build context") {
		t.Errorf("missing context: %v", err)
	}
}

// TestObserveFifty checks that observing a project of 50 containers stays
// within the budget of a no-op up: Observe makes a fixed number of list
// calls however many containers there are (the unit test's fake would
// panic on a per-container inspect).
func TestObserveFifty(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 50 containers")
	}
	b := newRealBackend(t)
	img := ensureTestImage(t, b)
	ctx := testCtx(t)
	project := testProject(t, b)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	sem := make(chan struct{}, 4)
	for i := 1; i <= 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			_, err := b.CreateContainer(ctx, labelledSpec(project, fmt.Sprintf("svc%02d", i), 1, img, "true"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	best := time.Hour
	for range 3 {
		start := time.Now()
		st, err := b.Observe(ctx, project, []string{img})
		if err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(start))
		if len(st.Containers) != 50 || st.ImageIDs[img] == "" {
			t.Fatalf("observed %d containers, image IDs %v", len(st.Containers), st.ImageIDs)
		}
	}
	t.Logf("Observe of 50 containers: %v", best)
	if best > 150*time.Millisecond {
		t.Errorf("Observe of 50 containers took %v, budget 150ms", best)
	}
}
