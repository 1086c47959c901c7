package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoist-dev/hoist/engine"
)

// checkProblems runs Check and returns its problems as "path: what" lines.
func checkProblems(t *testing.T, s *Store, full, repair bool) []Problem {
	t.Helper()
	ps, err := s.Check(context.Background(), full, repair)
	if err != nil {
		t.Fatalf("Check(full=%v, repair=%v): %v", full, repair, err)
	}
	return ps
}

func wantProblems(t *testing.T, got []Problem, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d problems, want %d: %+v", len(got), len(want), got)
	}
	// In any order: layers come in diff ID order.
	for _, w := range want {
		found := false
		for _, p := range got {
			found = found || strings.Contains(p.Path+": "+p.What, w)
		}
		if !found {
			t.Errorf("no problem says %q: %+v", w, got)
		}
	}
}

// TestCheckFindsAndRepairs damages the store as a crash, a bad disk or a
// careless hand would, and checks that Check finds each damage and that
// repair leaves a store Check finds sound, whose images still resolve
// when their blobs are.
func TestCheckFindsAndRepairs(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	src := testImage(t)
	pulled := reg + "/test/busybox:1"
	if err := remote.Write(mustRef(t, pulled), src, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	if err := s.Pull(ctx, pulled, nil); err != nil {
		t.Fatal(err)
	}
	// The same busybox layer (the same diff ID) from a blob of its own.
	imported, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), "example.com/imported:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, checkProblems(t, s, true, false))
	img := checkResolved(t, s, pulled, "")
	base, top := img.Layers[0], img.Layers[1]

	// A file of an unpacked layer changed, and a staging leftover.
	busybox := filepath.Join(base, "bin", "busybox")
	orig, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(busybox, append(bytes.Clone(orig), 'x'), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), "tmp", "blob-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Without --full the tree is not read; a staging leftover is no
	// problem (nothing references it), but repair removes it.
	wantProblems(t, checkProblems(t, s, false, false))
	wantProblems(t, checkProblems(t, s, true, true), base+": layer /bin/busybox has")
	if _, err := os.Stat(filepath.Join(s.Root(), "tmp", "blob-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging leftover kept by repair: %v", err)
	}
	if got, _ := os.ReadFile(busybox); !bytes.Equal(got, orig) {
		t.Error("repair did not restore /bin/busybox")
	}
	wantProblems(t, checkProblems(t, s, true, false))

	// A file added to a layer, and a layer dir removed.
	if err := os.WriteFile(filepath.Join(base, "extra"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(top); err != nil {
		t.Fatal(err)
	}
	wantProblems(t, checkProblems(t, s, false, false), top+": layer missing")
	wantProblems(t, checkProblems(t, s, true, true), base+": layer has /extra", top+": layer missing")
	wantProblems(t, checkProblems(t, s, true, false))
	if _, err := os.Stat(filepath.Join(top, "etc", "motd")); err != nil {
		t.Errorf("top layer not unpacked again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(top, "etc", "hostname")); err != nil {
		t.Errorf("top layer's whiteout not unpacked again: %v", err)
	}

	// A corrupt layer blob: its image cannot be trusted, the other image,
	// which has a blob of its own for the shared layer, stays.
	mf, err := s.manifest(img.Digest)
	if err != nil {
		t.Fatal(err)
	}
	blob := s.blobPath(mf.Layers[1].Digest)
	if err := os.WriteFile(blob, []byte("not a layer"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantProblems(t, checkProblems(t, s, false, true), blob+": content hashes", "image "+pulled+": layer blob")
	if _, err := os.Stat(blob); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt blob kept: %v", err)
	}
	if _, err := s.Resolve(ctx, pulled); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Resolve(%s) after repair = %v, want ErrNotFound", pulled, err)
	}
	checkResolved(t, s, "example.com/imported:1", imported)
	wantProblems(t, checkProblems(t, s, true, false))

	// Pulled again, it is whole.
	if err := s.Pull(ctx, pulled, nil); err != nil {
		t.Fatal(err)
	}
	checkResolved(t, s, pulled, "")
	wantProblems(t, checkProblems(t, s, true, false))
}
