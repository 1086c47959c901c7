package native

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// testService is a service of a test project, which tests change before
// resolving it into a container spec as the orchestrator would.
type testService struct {
	Project string
	Name    string
	Image   string
	Service types.ServiceConfig
	// Networks are engine-level network attachments.
	Networks []runspec.Attachment
	OneOff   bool
	// Files are added to the resolved ones.
	Files []runspec.File
}

func testSpec(project, name string, cmd ...string) *testService {
	svc := types.ServiceConfig{Name: name}
	svc.Image, svc.Command = testImage, cmd
	return &testService{Project: project, Name: project + "-" + name + "-1", Image: testImage, Service: svc}
}

// resolved is the container spec of s (compose.Resolve); named volumes
// are the engine-level names themselves.
func (s *testService) resolved() engine.ContainerSpec {
	p := &types.Project{Name: s.Project, WorkingDir: "/", Services: types.Services{s.Service.Name: s.Service}, Volumes: types.Volumes{}}
	for _, v := range s.Service.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			p.Volumes[v.Source] = types.VolumeConfig{Name: v.Source}
		}
	}
	c, err := compose.Resolve(p, s.Service, s.OneOff)
	if err != nil {
		panic(err)
	}
	c.Image = s.Image
	c.Files = append(c.Files, s.Files...)
	if s.Networks != nil {
		c.Network.Attachments = s.Networks
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[engine.LabelProject], c.Labels[engine.LabelService] = s.Project, s.Service.Name
	return engine.ContainerSpec{Project: s.Project, Service: s.Service.Name, Name: s.Name, Number: 1, OneOff: s.OneOff, Config: c}
}

// run creates and starts spec and waits for cond.
func run(t *testing.T, b *Backend, spec engine.ContainerSpec, cond engine.WaitCondition) (string, engine.Container) {
	t.Helper()
	ctx := testCtx(t)
	id, err := b.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := b.RemoveContainer(context.Background(), id, engine.RemoveOptions{Force: true, Volumes: true})
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			t.Error(err)
		}
	})
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	c, err := b.Wait(ctx, id, cond)
	if err != nil {
		t.Fatal(err)
	}
	return id, c
}

func logs(t *testing.T, b *Backend, id string, opts engine.LogOptions) string {
	t.Helper()
	var out bytes.Buffer
	if err := b.Logs(testCtx(t), id, opts, &out, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestWritableLayerSurvivesStopStart(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	spec := testSpec("layer", "app", "sh", "-c", "cat /state 2>/dev/null; echo run >> /state")
	id, _ := run(t, b, spec.resolved(), engine.WaitExited)
	if err := b.StopContainer(ctx, id, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if mounted(t, filepath.Join(b.layout.LayerDir(id), "rootfs")) {
		t.Error("rootfs still mounted after stop")
	}
	if _, err := os.Stat(filepath.Join(b.layout.LayerDir(id), "upper", "state")); err != nil {
		t.Errorf("writable layer lost at stop: %v", err)
	}
	if err := b.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctx, id, engine.WaitExited); err != nil {
		t.Fatal(err)
	}
	// The second run printed the first run's file.
	if got := logs(t, b, id, engine.LogOptions{}); got != "run\n" {
		t.Errorf("second run saw %q, want the first run's \"run\\n\"", got)
	}
	if got := logs(t, b, id, engine.LogOptions{Tail: "0"}); got != "" {
		t.Errorf("tail 0 = %q", got)
	}
	if err := b.RemoveContainer(ctx, id, engine.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.layout.LayerDir(id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writable layer still there after remove: %v", err)
	}
	if err := b.RemoveContainer(ctx, id, engine.RemoveOptions{}); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("second remove = %v, want ErrNotFound", err)
	}
}

func TestKillAndFollow(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	spec := testSpec("follow", "app", "sleep", "600")
	id, _ := run(t, b, spec.resolved(), engine.WaitRunning)
	if err := b.RemoveContainer(ctx, id, engine.RemoveOptions{}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("remove of a running container = %v, want ErrConflict", err)
	}
	done := make(chan string)
	go func() {
		var out bytes.Buffer
		_ = b.Logs(ctx, id, engine.LogOptions{Follow: true}, &out, &out)
		done <- out.String()
	}()
	// Exec writes to the container's stdout, so the output is complete
	// before the kill; follow ends at the exit.
	if _, err := b.Exec(ctx, id, engine.ExecSpec{Cmd: []string{"sh", "-c", "{ echo a; echo b; echo c; } >> /proc/1/fd/1"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Kill(ctx, id, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	c, err := b.Wait(ctx, id, engine.WaitExited)
	if err != nil || c.ExitCode != 137 {
		t.Errorf("after kill: exit %d, %v; want 137", c.ExitCode, err)
	}
	if got := <-done; got != "a\nb\nc\n" {
		t.Errorf("followed %q, want a, b, c", got)
	}
	if got := logs(t, b, id, engine.LogOptions{Tail: "2"}); got != "b\nc\n" {
		t.Errorf("tail 2 = %q", got)
	}
	if err := b.Kill(ctx, id, "KILL"); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("kill of an exited container = %v, want ErrConflict", err)
	}
}

func TestNamedVolumePersistsAndCopiesUp(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	vol := engine.VolumeSpec{Name: "vols_data", Project: "vols", Key: "data"}
	if err := b.CreateVolume(ctx, vol); err != nil {
		t.Fatal(err)
	}
	mount := []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: vol.Name, Target: "/etc"}}
	// The empty volume on /etc is filled from the image at first use.
	w := testSpec("vols", "writer", "sh", "-c", "test -f /etc/passwd && echo copied; echo kept > /etc/mine")
	w.Service.Volumes = mount
	id, c := run(t, b, w.resolved(), engine.WaitExited)
	if c.ExitCode != 0 || logs(t, b, id, engine.LogOptions{}) != "copied\n" {
		t.Errorf("writer exit %d logs %q", c.ExitCode, logs(t, b, id, engine.LogOptions{}))
	}
	if err := b.RemoveVolume(ctx, vol.Name); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("RemoveVolume of a used volume = %v, want ErrConflict", err)
	}
	if err := b.RemoveContainer(ctx, id, engine.RemoveOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	r := testSpec("vols", "reader", "cat", "/etc/mine")
	r.Service.Volumes = mount
	id, _ = run(t, b, r.resolved(), engine.WaitExited)
	if got := logs(t, b, id, engine.LogOptions{}); got != "kept\n" {
		t.Errorf("reader printed %q, want kept", got)
	}
	if err := b.RemoveContainer(ctx, id, engine.RemoveOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveVolume(ctx, vol.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.vols.Dir(vol.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume dir left: %v", err)
	}
}

func TestAnonymousVolumeGoesWithContainer(t *testing.T) {
	b := newBackend(t)
	spec := testSpec("anon", "app", "sh", "-c", "echo x > /scratch/f")
	spec.Service.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Target: "/scratch"}}
	id, c := run(t, b, spec.resolved(), engine.WaitExited)
	if c.ExitCode != 0 {
		t.Fatalf("exit %d: %s", c.ExitCode, logs(t, b, id, engine.LogOptions{}))
	}
	r, err := b.layout.LoadRef(id)
	if err != nil || len(r.Volumes) != 1 || !r.Volumes[0].Anonymous {
		t.Fatalf("record volumes %+v, %v", r, err)
	}
	if err := b.RemoveContainer(testCtx(t), id, engine.RemoveOptions{Volumes: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.vols.Dir(r.Volumes[0].Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("anonymous volume left: %v", err)
	}
}

func TestNamesAndPrefixes(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	spec := testSpec("names", "app", "true")
	id, _ := run(t, b, spec.resolved(), engine.WaitExited)
	if _, err := b.CreateContainer(ctx, spec.resolved()); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("duplicate name = %v, want ErrConflict", err)
	}
	for _, ref := range []string{spec.Name, id, id[:12]} {
		if c, err := b.Wait(ctx, ref, engine.WaitExited); err != nil || c.ID != id {
			t.Errorf("Wait(%q) = %s, %v", ref, c.ID, err)
		}
	}
	if _, err := b.Wait(ctx, "names-nothing-1", engine.WaitExited); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("unknown name = %v", err)
	}
	if _, err := b.CreateContainer(ctx, testSpec("names", "app", "true").resolved()); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("name still reserved? %v", err)
	}
	spec.Image, spec.Service.Image = "hoist-test/absent:never", "hoist-test/absent:never"
	spec.Name = "names-other-1"
	if _, err := b.CreateContainer(ctx, spec.resolved()); !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), "hoist pull") {
		t.Errorf("absent image = %v", err)
	}
}

func TestNetworkModes(t *testing.T) {
	b := newBackend(t)
	for mode, want := range map[string]string{"none": "lo", "host": ""} {
		spec := testSpec("netmodes", mode, "sh", "-c", "ls /sys/class/net | tr '\\n' ' '")
		spec.Service.NetworkMode = mode
		id, c := run(t, b, spec.resolved(), engine.WaitExited)
		got := strings.TrimSpace(logs(t, b, id, engine.LogOptions{}))
		if c.ExitCode != 0 || (want != "" && got != want) || (want == "" && got == "lo") {
			t.Errorf("network_mode %s: interfaces %q (exit %d)", mode, got, c.ExitCode)
		}
		if len(c.Networks) != 1 || c.Networks[0] != mode {
			t.Errorf("network_mode %s: observed networks %v", mode, c.Networks)
		}
	}
}

func mounted(t *testing.T, target string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == target {
			return true
		}
	}
	return false
}
