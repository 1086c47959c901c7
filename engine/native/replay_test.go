package native

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/oneoff"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// A record rebound to another ID is the record the engine would have made
// with that ID: the fast path's containers are the engine's.
func TestRebindMatchesANewRecord(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	for _, hostname := range []string{"", "fixed"} {
		spec := oneOff("rebind", "true")
		spec.Service.Hostname = hostname
		r1, _, err := b.newRecord(ctx, spec.resolved())
		if err != nil {
			t.Fatal(err)
		}
		r2, _, err := b.newRecord(ctx, spec.resolved())
		if err != nil {
			t.Fatal(err)
		}
		r2.Name = "rebind-box-run-2"
		rec1, err := json.Marshal(r1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := oneoff.Rebind(rec1, r2.ID, r2.Name, r2.Created)
		if err != nil {
			t.Fatal(err)
		}
		var rebound, want store.Record
		want2, _ := json.Marshal(r2)
		if err := json.Unmarshal(got, &rebound); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want2, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rebound, want) {
			t.Errorf("hostname %q: rebound\n%s\nwant\n%s", hostname, got, want2)
		}
	}
}

// RunRecorded hands out the record of a simple one-off, and oneoff.Replay
// runs it again as a new container, removed afterwards like the first.
func TestReplayRunsTheRecordAgain(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	var rep *Replay
	var out bytes.Buffer
	script := `echo "$HOSTNAME $(hostname) $(cat /etc/hostname)"; cat; exit 4`
	code, err := b.RunRecorded(ctx, oneOff("replay", script).resolved(), engine.RunAttach{Stdin: strings.NewReader("in\n"), Stdout: &out, Stderr: io.Discard, Remove: true},
		func(r Replay) { rep = &r })
	if err != nil || code != 4 || rep == nil {
		t.Fatalf("code %d err %v replay %v", code, err, rep)
	}
	if rep.Root != b.layout.Root || rep.RunDir != b.layout.RunDir || !slices.Contains(rep.Inputs, b.store.IndexPath()) {
		t.Errorf("replay %+v", rep)
	}
	first := strings.Fields(out.String())

	out.Reset()
	code, ran, err := oneoff.Replay(ctx, oneoff.RunOptions{Layout: b.layout, Record: rep.Record,
		Stdin: strings.NewReader("again\n"), Stdout: &out, Stderr: io.Discard})
	if !ran || err != nil || code != 4 {
		t.Fatalf("replay: ran %v code %d err %v", ran, code, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	f := strings.Fields(lines[0])
	if len(lines) != 2 || lines[1] != "again" || len(f) != 3 || f[0] != f[1] || f[1] != f[2] || len(f[0]) != 12 || f[0] == first[0] {
		t.Errorf("first run %q, replay printed %q: want the new container's own hostname and the input", first, out.String())
	}
	if _, err := os.Stat(b.layout.ProjectDir("replay")); !os.IsNotExist(err) {
		t.Errorf("the project's run dir is left: %v", err)
	}
	// newBackend's cleanup checks that no mount, cgroup, process or record is left.

	// What it cannot run it leaves, untouched, to the usual way.
	if err := os.MkdirAll(filepath.Join(b.layout.ProjectDir("replay"), "net"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, ran, err := oneoff.Replay(ctx, oneoff.RunOptions{Layout: b.layout, Record: rep.Record, Stdout: io.Discard, Stderr: io.Discard}); ran || err != nil {
		t.Errorf("a project with network state: ran %v err %v", ran, err)
	}
	os.RemoveAll(b.layout.ProjectDir("replay"))
	var r store.Record
	if err := json.Unmarshal(rep.Record, &r); err != nil {
		t.Fatal(err)
	}
	r.Layers = append(r.Layers, filepath.Join(b.layout.Root, "layers", "gone"))
	gone, _ := json.Marshal(&r)
	if _, ran, err := oneoff.Replay(ctx, oneoff.RunOptions{Layout: b.layout, Record: gone, Stdout: io.Discard, Stderr: io.Discard}); ran || err != nil {
		t.Errorf("a layer gone: ran %v err %v", ran, err)
	}
	if _, err := os.Stat(b.layout.ProjectDir("replay")); !os.IsNotExist(err) {
		t.Errorf("a declined replay left the project's run dir: %v", err)
	}
}

// What an interrupted teardown left of a project (its run dir, network
// state) goes at the next down, even with nothing else to remove.
func TestTeardownProjectRemovesLeftovers(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	dir := b.layout.ProjectDir("leftover")
	for _, d := range []string{"net/networks", "net/containers", "net/netns"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "supervisor.log"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.TeardownProject(ctx, "leftover"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left: %v", dir, err)
	}
	// A project with a container keeps its state.
	code, err := b.RunContainer(ctx, oneOff("keep", "true").resolved(), engine.RunAttach{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	if err := b.TeardownProject(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.layout.ProjectDir("keep")); err != nil {
		t.Errorf("a project with a container lost its run dir: %v", err)
	}
	if err := b.RemoveContainer(ctx, "keep-box-run-1", engine.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
}
