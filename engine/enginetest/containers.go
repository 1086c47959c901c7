package enginetest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

func testContainerObserve(t *testing.T, h *harness) {
	ctx := h.ctx()
	net := engine.NetworkSpec{Name: h.project + "_default", Project: h.project, Key: "default",
		Labels: map[string]string{engine.LabelProject: h.project, engine.LabelNetwork: "default"}}
	if err := h.b.CreateNetwork(ctx, net); err != nil {
		t.Fatalf("CreateNetwork: %v", err)
	}
	svc := h.service("web", "sleep", "600")
	svc.Init = new(true)
	spec := h.spec(svc, runspec.Attachment{Network: net.Name, Aliases: []string{"web"}})
	id := h.create(spec)

	st, err := h.b.Observe(ctx, h.project, []string{h.image, "hoist-test/absent:never"})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if len(st.Containers) != 1 {
		t.Fatalf("Observe containers = %+v, want 1", st.Containers)
	}
	c := st.Containers[0]
	want := engine.Container{ID: id, Name: spec.Name, Project: h.project, Service: "web", Number: 1, ConfigHash: "hash-web", State: engine.StateCreated}
	if c.ID != want.ID || c.Name != want.Name || c.Project != want.Project || c.Service != want.Service ||
		c.Number != want.Number || c.ConfigHash != want.ConfigHash || c.State != want.State || c.OneOff {
		t.Errorf("observed %+v, want fields of %+v", c, want)
	}
	if c.ImageID == "" || c.ImageID != st.ImageIDs[h.image] {
		t.Errorf("container ImageID %q, ImageIDs[%s] = %q: want equal and set", c.ImageID, h.image, st.ImageIDs[h.image])
	}
	if _, ok := st.ImageIDs["hoist-test/absent:never"]; ok {
		t.Errorf("ImageIDs has an absent image: %v", st.ImageIDs)
	}
	if c.Created.IsZero() || time.Since(c.Created) > time.Hour {
		t.Errorf("Created = %v, want about now", c.Created)
	}

	if err := h.b.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	running := h.wait(id, engine.WaitRunning)
	if running.State != engine.StateRunning {
		t.Errorf("after WaitRunning state = %q", running.State)
	}
	c = h.find(id)
	if c.State != engine.StateRunning || len(c.Networks) != 1 || c.Networks[0] != net.Name {
		t.Errorf("observed running container state %q networks %v, want running on [%s]", c.State, c.Networks, net.Name)
	}
}

func testExitCodeAndLogs(t *testing.T, h *harness) {
	id := h.run(h.spec(h.service("job", "sh", "-c", "echo out; echo err >&2; exit 3")))
	c := h.wait(id, engine.WaitExited)
	if c.State != engine.StateExited || c.ExitCode != 3 {
		t.Errorf("after WaitExited state %q exit code %d, want exited 3", c.State, c.ExitCode)
	}
	if o := h.find(id); o.State != engine.StateExited || o.ExitCode != 3 {
		t.Errorf("Observe state %q exit code %d, want exited 3", o.State, o.ExitCode)
	}
	var stdout, stderr bytes.Buffer
	if err := h.b.Logs(h.ctx(), id, engine.LogOptions{Tail: "all"}, &stdout, &stderr); err != nil {
		t.Fatalf("Logs: %v", err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("Logs stdout %q stderr %q, want \"out\\n\" and \"err\\n\"", stdout.String(), stderr.String())
	}
}

func healthcheck(test ...string) *types.HealthCheckConfig {
	return &types.HealthCheckConfig{
		Test:     test,
		Interval: durationPtr(200 * time.Millisecond),
		Timeout:  durationPtr(5 * time.Second),
		Retries:  uint64Ptr(2),
	}
}

func testHealthy(t *testing.T, h *harness) {
	// The workload becomes healthy on its own after a moment; the test only
	// waits through Wait.
	svc := h.service("db", "sh", "-c", "sleep 1; touch /tmp/ok; exec sleep 600")
	svc.Init = new(true)
	svc.HealthCheck = healthcheck("CMD-SHELL", "test -f /tmp/ok")
	// Failures in the start period do not count, so the probe may fail
	// until the file appears without the container turning unhealthy.
	svc.HealthCheck.StartPeriod = durationPtr(time.Minute)
	id := h.run(h.spec(svc))
	c := h.wait(id, engine.WaitHealthy)
	if c.Health != engine.HealthHealthy || c.State != engine.StateRunning {
		t.Errorf("after WaitHealthy health %q state %q", c.Health, c.State)
	}
	if o := h.find(id); o.Health != engine.HealthHealthy {
		t.Errorf("Observe health %q, want healthy", o.Health)
	}
}

func testUnhealthy(t *testing.T, h *harness) {
	svc := h.service("db", "sleep", "600")
	svc.Init = new(true)
	svc.HealthCheck = healthcheck("CMD-SHELL", "echo probe-failed; exit 1")
	id := h.run(h.spec(svc))
	_, err := h.b.Wait(h.ctx(), id, engine.WaitHealthy)
	if err == nil {
		t.Fatal("WaitHealthy on a failing healthcheck returned no error")
	}
	if !strings.Contains(err.Error(), "unhealthy") || !strings.Contains(err.Error(), "probe-failed") {
		t.Errorf("error %q should say unhealthy and show the probe output", err)
	}
}

func testExitWhileWaitingHealthy(t *testing.T, h *harness) {
	svc := h.service("db", "sh", "-c", "sleep 1; exit 4")
	svc.HealthCheck = healthcheck("CMD-SHELL", "false")
	svc.HealthCheck.Interval = durationPtr(time.Minute) // never gets to decide
	spec := h.spec(svc)
	id := h.run(spec)
	_, err := h.b.Wait(h.ctx(), id, engine.WaitHealthy)
	if err == nil {
		t.Fatal("WaitHealthy on an exiting container returned no error")
	}
	if !strings.Contains(err.Error(), spec.Name) || !strings.Contains(err.Error(), "code 4") {
		t.Errorf("error %q should name %s and say \"code 4\"", err, spec.Name)
	}
}

func testStop(t *testing.T, h *harness) {
	svc := h.service("worker", "sleep", "600")
	svc.Init = new(true) // an init forwards SIGTERM, so the stop is prompt
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	start := time.Now()
	if err := h.b.StopContainer(h.ctx(), id, 30*time.Second); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("StopContainer took %v: the stop signal was not honoured", d)
	}
	if c := h.find(id); c.State != engine.StateExited {
		t.Errorf("state after stop = %q, want exited", c.State)
	}
}

func testRemoveUnknown(t *testing.T, h *harness) {
	err := h.b.RemoveContainer(h.ctx(), h.project+"-nothing-1", engine.RemoveOptions{Force: true})
	if !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("RemoveContainer of unknown = %v, want ErrNotFound", err)
	}
	_, err = h.b.Wait(h.ctx(), h.project+"-nothing-1", engine.WaitRunning)
	if !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Wait of unknown = %v, want ErrNotFound", err)
	}
}

func testExec(t *testing.T, h *harness) {
	ex, ok := h.b.(engine.Execer)
	if !ok {
		t.Fatal("backend is not an engine.Execer")
	}
	svc := h.service("app", "sleep", "600")
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	var stdout, stderr bytes.Buffer
	code, err := ex.Exec(h.ctx(), id, engine.ExecSpec{
		Cmd:     []string{"sh", "-c", `cat; echo "$GREETING from $(pwd)"; echo oops >&2; exit 7`},
		Env:     []string{"GREETING=hello"},
		WorkDir: "/tmp",
		Stdin:   strings.NewReader("in\n"),
		Stdout:  &stdout,
		Stderr:  &stderr,
	})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
	if stdout.String() != "in\nhello from /tmp\n" || stderr.String() != "oops\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
