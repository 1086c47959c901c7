package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/overlay"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("overlay mounts need root")
	}
}

func unpackDir(t *testing.T, dir string, ents ...ent) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Unpack(context.Background(), bytes.NewReader(tarOf(t, ents...)), dir, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mountForTest(t *testing.T, layers []string, upper, work, target string, forceFDs bool) {
	t.Helper()
	mountForTestOpts(t, layers, upper, work, target, forceFDs, false)
}

func mountForTestOpts(t *testing.T, layers []string, upper, work, target string, forceFDs, volatile bool) {
	t.Helper()
	if err := mountRootfs(layers, upper, work, target, forceFDs, volatile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Unmount(target); err != nil {
			t.Error(err)
		}
		if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), target) {
			t.Errorf("%s still mounted", target)
		}
	})
}

func TestMountRootfsOverlay(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	lower := unpackDir(t, filepath.Join(base, "l1"),
		ent{typ: tar.TypeReg, name: "a", body: "lower a"},
		ent{typ: tar.TypeReg, name: "b", body: "lower b"},
		ent{typ: tar.TypeReg, name: "d/old", body: "old"},
	)
	top := unpackDir(t, filepath.Join(base, "l2"),
		ent{typ: tar.TypeReg, name: ".wh.b"},
		ent{typ: tar.TypeReg, name: "c", body: "top c"},
		ent{typ: tar.TypeDir, name: "d/", mode: 0o755},
		ent{typ: tar.TypeReg, name: "d/.wh..wh..opq"},
		ent{typ: tar.TypeReg, name: "d/new", body: "new"},
	)
	upper, work, target := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	mountForTest(t, []string{lower, top}, upper, work, target, false)

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(target, name))
		if err != nil {
			return err.Error()
		}
		return string(b)
	}
	if read("a") != "lower a" || read("c") != "top c" || read("d/new") != "new" {
		t.Errorf("merged: a=%q c=%q d/new=%q", read("a"), read("c"), read("d/new"))
	}
	for _, hidden := range []string{"b", "d/old"} {
		if _, err := os.Lstat(filepath.Join(target, hidden)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s visible in merged dir: %v", hidden, err)
		}
	}
	if err := os.WriteFile(filepath.Join(target, "written"), []byte("w"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "a"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(upper, "written")); err != nil || string(b) != "w" {
		t.Errorf("upper/written = %q, %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(lower, "a")); string(b) != "lower a" {
		t.Errorf("lower a changed: %q", b)
	}
	for _, l := range []string{lower, top} {
		if _, err := os.Lstat(filepath.Join(l, "written")); err == nil {
			t.Errorf("write landed in layer %s", l)
		}
	}
}

func TestMountRootfsManyLayers(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	// 150 layers with long absolute paths exceed a page of options, so
	// the /proc/self/fd names must be used.
	var layers []string
	for i := range 150 {
		dir := filepath.Join(base, "layers", fmt.Sprintf("layer-with-a-rather-long-name-%03d", i))
		layers = append(layers, unpackDir(t, dir, ent{typ: tar.TypeReg, name: fmt.Sprintf("f%03d", i), body: "x"}))
	}
	if n := len(overlay.Options(layers, "", "", true, false)); n < os.Getpagesize() {
		t.Fatalf("options only %d bytes; test does not exercise the fallback", n)
	}
	target := filepath.Join(base, "merged")
	mountForTest(t, layers, filepath.Join(base, "upper"), filepath.Join(base, "work"), target, false)
	for _, f := range []string{"f000", "f149"} {
		if _, err := os.Stat(filepath.Join(target, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestMountRootfsReadOnlyAndResolved(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := openStore(t)
	if _, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), "ro:1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, Commit{Ref: "ro:2", Parent: "ro:1", Layers: []NewLayer{
		{Tar: bytes.NewReader(tarOf(t, ent{typ: tar.TypeReg, name: "etc/.wh.passwd"}))},
	}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"ro:1", "ro:2"} {
		img, err := s.Resolve(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(t.TempDir(), "merged")
		mountForTest(t, img.Layers, "", "", target, true)
		if _, err := os.Stat(filepath.Join(target, "bin/busybox")); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
		_, err = os.Stat(filepath.Join(target, "etc/passwd"))
		if hidden := errors.Is(err, fs.ErrNotExist); hidden != (ref == "ro:2") {
			t.Errorf("%s: etc/passwd stat = %v", ref, err)
		}
		if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err == nil {
			t.Errorf("%s: read-only rootfs is writable", ref)
		}
	}
}

// A volatile rootfs (run --rm) is an ordinary writable overlay whose
// mount carries overlayfs's volatile option, so its unmount syncs nothing.
func TestMountVolatileRootfs(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	lower := unpackDir(t, filepath.Join(base, "l1"), ent{typ: tar.TypeReg, name: "a", body: "lower a"})
	upper, work, target := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	if err := MountVolatileRootfs([]string{lower}, upper, work, target); err != nil {
		t.Fatal(err)
	}
	mounted := false
	t.Cleanup(func() {
		if mounted {
			_ = Unmount(target)
		}
	})
	mounted = true
	info, _ := os.ReadFile("/proc/self/mountinfo")
	var line string
	for _, l := range strings.Split(string(info), "\n") {
		if strings.Contains(l, " "+target+" ") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("%s not in mountinfo", target)
	}
	if !strings.Contains(line, "volatile") {
		var uts unix.Utsname
		_ = unix.Uname(&uts)
		t.Fatalf("mount lacks the volatile option (kernel %s): %s", unix.ByteSliceToString(uts.Release[:]), line)
	}
	if err := os.WriteFile(filepath.Join(target, "w"), []byte("w"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(upper, "w")); err != nil || string(b) != "w" {
		t.Errorf("upper/w = %q, %v", b, err)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	mounted = false
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), target) {
		t.Errorf("%s still mounted", target)
	}
	// The layer it leaves is removable like any other.
	if err := os.RemoveAll(base); err != nil {
		t.Error(err)
	}
}
