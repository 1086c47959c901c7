// Package enginetest is the conformance suite every engine.Backend runs,
// so that the docker and native engines behave the same for hoist.
//
// Each subtest uses its own project name and removes, in t.Cleanup, every
// container, network and volume labelled with it, even when it fails.
// Tests synchronise only through Backend.Wait and deadlines, never sleeps,
// and only ever connect to 127.0.0.1.
//
// Wait errors are checked for content: they name the container, and an
// exit while waiting says "code N"; an unhealthy container's error carries
// the last probe's output.
package enginetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/hoist-dev/hoist/engine/enginetest/effective"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

// Options configures the suite.
type Options struct {
	// Image is the reference of a busybox-like image present in the engine
	// (sh, sleep, touch, test, cat, echo, httpd, wget, ip).
	Image string
	// Skip names subtests the backend cannot pass yet, each with the
	// reason, which the suite prints. Use it only for capabilities the
	// backend lacks (published ports, healthchecks, ...).
	Skip map[string]string
	// Inspect reads the settings the backend recorded for a container
	// (the translation table compares them); it is given the subtest's
	// backend.
	Inspect func(b engine.Backend) effective.Inspector
	// DockerCompose, when set, is a docker compose binary talking to the
	// same daemon as the backend, whose containers Inspect can read: the
	// translation table then checks its rows against docker compose too.
	DockerCompose string
}

// timeout bounds each engine call sequence; the machine may be busy, so it
// is generous, and it is a deadline, not a sleep.
const timeout = 60 * time.Second

// Run runs every conformance test against backends made by newBackend,
// which is called once per subtest.
func Run(t *testing.T, newBackend func(t *testing.T) engine.Backend, opts Options) {
	if opts.Image == "" {
		t.Fatal("enginetest: Options.Image is required")
	}
	for name, reason := range opts.Skip {
		if reason == "" {
			t.Fatalf("enginetest: Options.Skip[%q] needs a reason", name)
		}
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
		// ability, when set, says whether the backend has the optional
		// ability the test is about; a test of one it lacks is not run.
		ability func(engine.Backend) bool
	}{
		{"Network", testNetwork, nil},
		{"Volume", testVolume, nil},
		{"TwoNetworks", testTwoNetworks, nil},
		{"ContainerObserve", testContainerObserve, nil},
		{"ExitCodeAndLogs", testExitCodeAndLogs, nil},
		{"Healthy", testHealthy, nil},
		{"Unhealthy", testUnhealthy, nil},
		{"ExitWhileWaitingHealthy", testExitWhileWaitingHealthy, nil},
		{"Stop", testStop, nil},
		{"RemoveUnknown", testRemoveUnknown, nil},
		{"Exec", testExec, has[engine.Execer]},
		// The optional abilities (engine.go), each run where the backend
		// has it.
		{"Sync", testSync, has[engine.Syncer]},
		{"Runner", testRunner, has[engine.Runner]},
		{"LogOptions", testLogOptions, nil},
		{"Kill", testKill, has[engine.Killer]},
		{"Top", testTop, has[engine.Toper]},
		{"StopWait", testStopWait, has[engine.StopWaiter]},
		{"ProcessStopper", testProcessStopper, has[engine.ProcessStopper]},
		{"ProjectLocker", testProjectLocker, has[engine.ProjectLocker]},
		{"ProjectTearer", testProjectTearer, has[engine.ProjectTearer]},
		{"ProjectLister", testProjectLister, has[engine.ProjectLister]},
		{"Unsupporter", testUnsupporter, has[engine.Unsupporter]},
		{"Copier", testCopier, has[engine.Copier]},
		{"Images", testImages, has[engine.ImageImporter]},
		{"ImageLoader", testImageLoader, has[engine.ImageLoader]},
		{"Builder", testBuilder, has[engine.Builder]},
		{"Pusher", testPusher, func(b engine.Backend) bool {
			return has[engine.Pusher](b) && has[engine.ImageImporter](b) && has[engine.ImageRemover](b)
		}},
		{"Pauser", testPauser, func(b engine.Backend) bool {
			return has[engine.Pauser](b) && has[engine.Execer](b) && has[engine.Copier](b)
		}},
		{"StatsReader", testStats, has[engine.StatsReader]},
		{"Exporter", testExporter, func(b engine.Backend) bool { return has[engine.Exporter](b) && has[engine.Execer](b) }},
		{"Committer", testCommitter, func(b engine.Backend) bool { return has[engine.Committer](b) && has[engine.Execer](b) }},
		{"EventStreamer", testEvents, has[engine.EventStreamer]},
		{"Attacher", testAttacher, has[engine.Attacher]},
		{"PublishedPort", testPublishedPort, nil},
		{"Mounts", testMounts, nil},
		{"Translation", testTranslation, nil},
	}
	for name := range opts.Skip {
		if !slices.ContainsFunc(tests, func(tc struct {
			name    string
			fn      func(t *testing.T, h *harness)
			ability func(engine.Backend) bool
		}) bool {
			return tc.name == name
		}) {
			t.Fatalf("enginetest: Options.Skip names no subtest %q", name)
		}
	}
	probe := newBackend(t)
	var lacks []string
	for _, tc := range tests {
		if tc.ability != nil && !tc.ability(probe) {
			lacks = append(lacks, tc.name)
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if reason, ok := opts.Skip[tc.name]; ok {
				t.Skipf("skipped by the backend: %s", reason)
			}
			b := newBackend(t)
			h := &harness{t: t, b: b, image: opts.Image, project: uniqueProject(), inspect: opts.Inspect, dockerCompose: opts.DockerCompose}
			t.Cleanup(h.cleanup)
			tc.fn(t, h)
		})
	}
	if len(lacks) > 0 {
		t.Logf("%s has no %s ability: those tests do not apply", probe.Name(), strings.Join(lacks, ", "))
	}
}

// has reports whether b has the optional ability I.
func has[I any](b engine.Backend) bool {
	_, ok := b.(I)
	return ok
}

// harness holds one subtest's backend and project.
type harness struct {
	t       *testing.T
	b       engine.Backend
	image   string
	project string
	// inspect and dockerCompose are Options'.
	inspect       func(b engine.Backend) effective.Inspector
	dockerCompose string
}

func uniqueProject() string {
	var buf [5]byte
	if _, err := rand.Read(buf[:]); err != nil {
		panic(err)
	}
	return "hoisttest" + hex.EncodeToString(buf[:])
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	h.t.Cleanup(cancel)
	return ctx
}

// cleanup removes everything labelled with the project. It uses its own
// context so that it runs even after the test's deadline.
func (h *harness) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := h.b.Observe(ctx, h.project, nil)
	if err != nil {
		h.t.Errorf("cleanup: observe %s: %v", h.project, err)
		return
	}
	for _, c := range st.Containers {
		if err := h.b.RemoveContainer(ctx, c.ID, engine.RemoveOptions{Force: true, Volumes: true}); err != nil {
			h.t.Errorf("cleanup: %v", err)
		}
	}
	for _, n := range st.Networks {
		if err := h.b.RemoveNetwork(ctx, n.Name); err != nil {
			h.t.Errorf("cleanup: %v", err)
		}
	}
	for _, v := range st.Volumes {
		if err := h.b.RemoveVolume(ctx, v.Name); err != nil {
			h.t.Errorf("cleanup: %v", err)
		}
	}
}

// service returns a minimal service running cmd in the test image.
func (h *harness) service(name string, cmd ...string) types.ServiceConfig {
	svc := types.ServiceConfig{Name: name}
	svc.Image = h.image
	svc.Command = cmd
	return svc
}

// spec wraps svc as container number 1 of the project, resolved as the
// orchestrator resolves services (compose.Resolve), with the compose
// labels and the given networks (engine-level names). Named volumes are
// the engine-level names themselves.
func (h *harness) spec(svc types.ServiceConfig, networks ...runspec.Attachment) engine.ContainerSpec {
	h.t.Helper()
	p := &types.Project{Name: h.project, Services: types.Services{svc.Name: svc}, Volumes: types.Volumes{}}
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			p.Volumes[v.Source] = types.VolumeConfig{Name: v.Source}
		}
	}
	c, err := compose.Resolve(p, svc, false)
	if err != nil {
		h.t.Fatalf("resolve %s: %v", svc.Name, err)
	}
	c.Image = h.image
	c.Network.Attachments = networks
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	maps.Copy(c.Labels, map[string]string{
		engine.LabelProject:    h.project,
		engine.LabelService:    svc.Name,
		engine.LabelNumber:     "1",
		engine.LabelOneOff:     "False",
		engine.LabelConfigHash: "hash-" + svc.Name,
		engine.LabelImage:      h.image,
	})
	return engine.ContainerSpec{
		Project: h.project,
		Service: svc.Name,
		Name:    fmt.Sprintf("%s-%s-1", h.project, svc.Name),
		Number:  1,
		Config:  c,
	}
}

// create creates the container or fails the test.
func (h *harness) create(spec engine.ContainerSpec) string {
	h.t.Helper()
	id, err := h.b.CreateContainer(h.ctx(), spec)
	if err != nil {
		h.t.Fatalf("CreateContainer: %v", err)
	}
	if id == "" {
		h.t.Fatal("CreateContainer returned an empty ID")
	}
	return id
}

// run creates and starts the container.
func (h *harness) run(spec engine.ContainerSpec) string {
	h.t.Helper()
	id := h.create(spec)
	if err := h.b.StartContainer(h.ctx(), id); err != nil {
		h.t.Fatalf("StartContainer: %v", err)
	}
	return id
}

func (h *harness) wait(id string, cond engine.WaitCondition) engine.Container {
	h.t.Helper()
	c, err := h.b.Wait(h.ctx(), id, cond)
	if err != nil {
		h.t.Fatalf("Wait %s: %v", cond, err)
	}
	return c
}

func (h *harness) find(id string) engine.Container {
	h.t.Helper()
	st, err := h.b.Observe(h.ctx(), h.project, nil)
	if err != nil {
		h.t.Fatalf("Observe: %v", err)
	}
	for _, c := range st.Containers {
		if c.ID == id {
			return c
		}
	}
	h.t.Fatalf("Observe: container %s not listed in %+v", id, st.Containers)
	return engine.Container{}
}

func durationPtr(d time.Duration) *types.Duration {
	v := types.Duration(d)
	return &v
}

func uint64Ptr(n uint64) *uint64 { return &n }
