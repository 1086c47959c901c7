package oneoff

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/store"
)

func TestSimple(t *testing.T) {
	for rec, want := range map[string]bool{
		`{"oneoff":true,"network_mode":"none"}`:                                                     true,
		`{"oneoff":true,"network_mode":"none","spec":{"mounts":[{"type":"bind","target":"/d"}]}}`:   true,
		`{"oneoff":true,"network_mode":"host"}`:                                                     false,
		`{"oneoff":false,"network_mode":"none"}`:                                                    false,
		`{"oneoff":true,"network_mode":""}`:                                                         false,
		`{"oneoff":true,"network_mode":"container:x"}`:                                              false,
		`{"oneoff":true,"network_mode":"none","ports":[{}]}`:                                        false,
		`{"oneoff":true,"network_mode":"none","volumes":[{"name":"v"}]}`:                            false,
		`{"oneoff":true,"network_mode":"none","spec":{"mounts":[{"type":"volume","target":"/v"}]}}`: false,
		`{"oneoff":true,"network_mode":"none","spec":{"tty":true}}`:                                 false,
		`not json`: false,
	} {
		if got := Simple([]byte(rec)); got != want {
			t.Errorf("Simple(%s) = %v", rec, got)
		}
	}
}

func TestRebind(t *testing.T) {
	old, id := strings.Repeat("a", 64), strings.Repeat("b", 64)
	rec := func(hostname string, env ...string) []byte {
		b, _ := json.Marshal(map[string]any{"id": old, "name": "p-box-run-aaaaaaaaaaaa", "labels": map[string]string{"k": "v"},
			"spec": map[string]any{"id": old, "hostname": hostname, "env": env, "args": []string{"true"}}})
		return b
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var got struct {
		ID, Name string
		Created  time.Time
		Labels   map[string]string
		Spec     struct {
			ID, Hostname string
			Env          []string
		}
	}
	b, err := Rebind(rec(old[:12], "HOSTNAME="+old[:12], "A=1"), id, "p-box-run-bbbbbbbbbbbb", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != id || got.Spec.ID != id || got.Name != "p-box-run-bbbbbbbbbbbb" || !got.Created.Equal(now) || got.Labels["k"] != "v" ||
		got.Spec.Hostname != id[:12] || strings.Join(got.Spec.Env, " ") != "HOSTNAME="+id[:12]+" A=1" {
		t.Errorf("rebound: %s", b)
	}
	// A hostname of the service's own, and a HOSTNAME it sets, stay.
	b, err = Rebind(rec("web", "HOSTNAME=web"), id, "n", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Hostname != "web" || strings.Join(got.Spec.Env, " ") != "HOSTNAME=web" {
		t.Errorf("rebound: %s", b)
	}
	// network_mode host: the host's name, and HOSTNAME the ID's default.
	b, err = Rebind(rec("myhost", "HOSTNAME="+old[:12]), id, "n", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Hostname != "myhost" || strings.Join(got.Spec.Env, " ") != "HOSTNAME="+id[:12] {
		t.Errorf("rebound: %s", b)
	}
	if _, err := Rebind([]byte(`{"id":"short"}`), id, "n", now); err == nil {
		t.Error("a record without a valid id was rebound")
	}
}

// A container whose start failed or was interrupted has no state: Remove
// removes it all the same, and the project's dir with it.
func TestRemoveNeverStarted(t *testing.T) {
	l := store.Layout{Root: t.TempDir(), RunDir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(l.RunDir, "names"), 0o700); err != nil {
		t.Fatal(err)
	}
	id := store.NewID()
	r := &record{store.Record{ID: id, Name: "p-box-run-1", Project: "p"}}
	rec, _ := json.Marshal(map[string]any{"id": id, "name": r.Name, "project": "p"})
	if err := create(l, r, rec); err != nil {
		t.Fatal(err)
	}
	if err := Remove(t.Context(), l, "p", id); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{l.LayerDir(id), l.ProjectDir("p"), l.NamePath(r.Name)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", p, err)
		}
	}
}
