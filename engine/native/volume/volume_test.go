package volume

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// A volume made before this package had its record type (testdata/v1)
// is still found, with its project, and removed.
func TestOldVolumeRecordLoads(t *testing.T) {
	s := Store{Layout: store.Layout{Root: t.TempDir(), RunDir: t.TempDir()}}
	if err := s.Layout.Init(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "v1", "volume.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir("fixture_data"), "_data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir("fixture_data"), "volume.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := s.Read("fixture_data")
	if err != nil || v.Project != "fixture" || v.Key != "data" || v.Labels[engine.LabelProject] != "fixture" {
		t.Fatalf("volume %+v, %v", v, err)
	}
	if got := s.Data(v); got != filepath.Join(s.Dir("fixture_data"), "_data") {
		t.Errorf("data %s", got)
	}
	if l := s.List(); len(l) != 1 || l[0].Name != "fixture_data" {
		t.Errorf("list %+v", l)
	}
	if err := s.Create(engine.VolumeSpec{Name: "fixture_data"}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("create again: %v, want a conflict", err)
	}
	if err := s.Remove("fixture_data"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("fixture_data"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("read after remove: %v", err)
	}
}
