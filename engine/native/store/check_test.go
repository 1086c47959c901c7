package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// newContainer writes a container as CreateContainer does: its name, its
// writable layer and its record (with the durable copy), on an image
// layer dir of its own.
func newContainer(t *testing.T, l Layout, project, name string) *Record {
	t.Helper()
	layer := filepath.Join(l.Root, "layers", "sha256", name)
	if err := os.MkdirAll(layer, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Record{ID: NewID(), Name: name, Project: project, Service: "s", Layers: []string{layer}, Restart: "always"}
	if err := l.ReserveName(name, project, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateLayer(r.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteRecord(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func checkLines(t *testing.T, l Layout, repair bool, removed *[]string) []string {
	t.Helper()
	ps, err := l.Check(CheckOptions{Repair: repair, Remove: func(project, id string) error {
		*removed = append(*removed, id)
		return errors.New("the engine cannot")
	}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		line := p.Path + ": " + p.What
		if p.Repaired != "" {
			line += " (" + p.Repaired + ")"
		}
		out = append(out, line)
	}
	return out
}

// TestCheckContainers damages records, layers and names one way each and
// checks that Check finds each once and that repair leaves nothing to
// find, falling back on Forget when the engine cannot remove a container.
func TestCheckContainers(t *testing.T) {
	l := Layout{Root: t.TempDir(), RunDir: t.TempDir()}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	var removed []string
	truncated := newContainer(t, l, "p", "p-truncated-1")
	orphaned := newContainer(t, l, "p", "p-orphan-1")
	noLayer := newContainer(t, l, "p", "p-nolayer-1")
	noImage := newContainer(t, l, "p", "p-noimage-1")
	sound := newContainer(t, l, "p", "p-sound-1")
	if got := checkLines(t, l, false, &removed); len(got) != 0 {
		t.Fatalf("a sound store has problems: %q", got)
	}

	runRec := filepath.Join(l.StateDir("p", truncated.ID), ConfigFile)
	if err := os.WriteFile(runRec, []byte(`{"id": "`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A layer no record names: its records are gone.
	if err := os.RemoveAll(l.StateDir("p", orphaned.ID)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.DurableRecordPath(orphaned.ID)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(l.LayerDir(noLayer.ID), "upper")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(noImage.Layers[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.NamePath("p-ghost-1"), []byte("p/"+NewID()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := checkLines(t, l, false, &removed)
	want := []string{
		"container record cannot be read",
		"p-orphan-1: name of container",
		"writable layer of no container",
		"p-nolayer-1: its layers are gone",
		"p-noimage-1: its layers are gone",
		"p-ghost-1: name of container",
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("no problem says %q:\n%s", w, joined)
		}
	}
	if len(removed) != 0 {
		t.Errorf("check without repair removed %v", removed)
	}

	// The orphan's name goes with its layer: one problem fewer to repair.
	got = checkLines(t, l, true, &removed)
	if len(got) != len(want)-1 || strings.Count(strings.Join(got, "\n"), " (") != len(got) {
		t.Errorf("repair:\n%s", strings.Join(got, "\n"))
	}
	if got := checkLines(t, l, false, &removed); len(got) != 0 {
		t.Fatalf("after repair: %q", got)
	}
	// The truncated record is written again from its durable copy.
	if r, err := l.Load("p", truncated.ID); err != nil || r.Name != truncated.Name {
		t.Errorf("truncated record after repair: %+v %v", r, err)
	}
	for _, r := range []*Record{orphaned, noLayer, noImage} {
		if _, err := os.Stat(l.LayerDir(r.ID)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: layer dir kept: %v", r.Name, err)
		}
		if _, _, err := l.Lookup(r.Name); err == nil {
			t.Errorf("%s: still found", r.Name)
		}
	}
	if len(removed) != 2 {
		t.Errorf("the engine was asked to remove %v, want the two containers it knows", removed)
	}
	if _, err := l.Load("p", sound.ID); err != nil {
		t.Errorf("sound container: %v", err)
	}
}

// TestRestoreAfterReboot: with the run dir gone, the durable copies make
// the records, names and network records again, as exited containers;
// a second restore does nothing; a removed container never comes back.
func TestRestoreAfterReboot(t *testing.T) {
	l := Layout{Root: t.TempDir(), RunDir: filepath.Join(t.TempDir(), "run")}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateNetwork(Network{ID: NewID(), Name: "p_default", Project: "p", Subnets: []string{"10.9.0.0/24"}}); err != nil {
		t.Fatal(err)
	}
	a := newContainer(t, l, "p", "p-a-1")
	b := newContainer(t, l, "p", "p-b-1")
	if err := l.RemoveRecord("p", b.ID, b.Name); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(l.RunDir); err != nil {
		t.Fatal(err)
	}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	nets, err := l.RestoreNetworks()
	if err != nil || len(nets) != 1 || nets[0] != "p_default" {
		t.Fatalf("RestoreNetworks = %v, %v", nets, err)
	}
	if n, err := l.Network("p_default"); err != nil || n.Subnets[0] != "10.9.0.0/24" {
		t.Errorf("restored network %+v %v", n, err)
	}
	recs, err := l.RestoreRecords()
	if err != nil || len(recs) != 1 || recs[0].ID != a.ID {
		t.Fatalf("RestoreRecords = %v, %v", recs, err)
	}
	r, err := l.LoadRef("p-a-1")
	if err != nil || r.Restart != "always" {
		t.Fatalf("restored record %+v %v", r, err)
	}
	st, started, err := l.Status(r)
	if err != nil || !started || st.Status != runtime.StatusExited || st.ExitCode != 255 {
		t.Errorf("restored state %+v %v %v", st, started, err)
	}
	if recs, err := l.RestoreRecords(); err != nil || len(recs) != 0 {
		t.Errorf("second RestoreRecords = %v, %v", recs, err)
	}
	if nets, err := l.RestoreNetworks(); err != nil || len(nets) != 0 {
		t.Errorf("second RestoreNetworks = %v, %v", nets, err)
	}
	if err := l.RemoveNetwork("p_default"); err != nil {
		t.Fatal(err)
	}
	if nets, _ := l.RestoreNetworks(); len(nets) != 0 {
		t.Errorf("a removed network came back: %v", nets)
	}

	// User stops are marked beside the layer.
	if l.UserStopped(a.ID) {
		t.Error("stopped before a stop")
	}
	if err := l.SetUserStopped(a.ID, true); err != nil || !l.UserStopped(a.ID) {
		t.Errorf("SetUserStopped(true): %v", err)
	}
	if err := l.SetUserStopped(a.ID, false); err != nil || l.UserStopped(a.ID) {
		t.Errorf("SetUserStopped(false): %v", err)
	}
}
