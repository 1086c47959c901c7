package rootfswrite

import (
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"testing"
)

// fixture is a container root, a host directory beside it ("outside")
// that a hostile container aims at, and the host files being synced.
type fixture struct {
	rootfs, outside, host string
	before                map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "rootfswrite-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	f := &fixture{rootfs: filepath.Join(base, "rootfs"), outside: filepath.Join(base, "outside"), host: filepath.Join(base, "host")}
	for _, d := range []string{f.rootfs, f.outside, f.host} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		filepath.Join(f.outside, "sentinel"): "host",
		filepath.Join(f.outside, "a.txt"):    "host a",
		filepath.Join(f.host, "a.txt"):       "edit",
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.before = snapshot(t, f.outside)
	return f
}

// snapshot maps every path below dir to its content ("dir" for a
// directory, "-> target" for a symlink).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[p] = "-> " + l
		case d.IsDir():
			out[p] = "dir"
		default:
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = string(raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkOutside fails when anything outside the root was created, written
// or removed.
func (f *fixture) checkOutside(t *testing.T) {
	t.Helper()
	if now := snapshot(t, f.outside); !maps.Equal(now, f.before) {
		t.Fatalf("the host outside the container's root changed:\nbefore %v\nafter  %v", f.before, now)
	}
}

func (f *fixture) link(t *testing.T, name, target string) {
	t.Helper()
	p := filepath.Join(f.rootfs, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) write(path, root string) Change {
	return Change{HostPath: filepath.Join(f.host, "a.txt"), Path: path, Root: root}
}

func del(path, root string) Change {
	return Change{Path: path, Root: root, Deleted: true}
}

// The reported attack: a sync rule ./src -> /app/src; inside the
// container `rm -rf /app; ln -s /tmp/x /app`; then an edit of src/a.txt.
// A walk that follows /app against the host's / creates /tmp/x/src on
// the host (before internal/inroot, it did).
func TestSyncDoesNotMkdirThroughContainerSymlink(t *testing.T) {
	f := newFixture(t)
	f.link(t, "app", f.outside)
	_ = Apply(context.Background(), f.rootfs, []Change{f.write("/app/src/a.txt", "/app/src")})
	if _, err := os.Lstat(filepath.Join(f.outside, "src")); err == nil {
		t.Fatalf("sync created %s/src on the host through the container's symlink /app", f.outside)
	}
	f.checkOutside(t)
}

// Links above the rule's target resolve inside the container's root: a
// write lands in the root or fails, never outside.
func TestLinksAboveTheTarget(t *testing.T) {
	// Each link, followed on the host, would lead from the container's
	// path via to the host's outside directory (never to the host's /).
	for _, tc := range []struct {
		name        string
		target, via func(f *fixture) string
	}{
		{"absolute", func(f *fixture) string { return f.outside }, nil},
		{"relative", func(f *fixture) string { return "../outside" }, nil},
		{"relative far", func(f *fixture) string { return "../../../../../../../" + f.outside }, nil},
		{"root", func(f *fixture) string { return "/" }, func(f *fixture) string { return "/app" + f.outside }},
		{"dangling", func(f *fixture) string { return filepath.Join(f.outside, "missing", "deeper") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.link(t, "app", tc.target(f))
			via := "/app"
			if tc.via != nil {
				via = tc.via(f)
			}
			ctx := context.Background()
			for _, c := range []Change{
				f.write(via+"/src/a.txt", via+"/src"),
				f.write(via+"/a.txt", via+"/a.txt"),
				f.write(via+"/src/new/b.txt", via),
				del(via+"/src/sentinel", via+"/src"),
				del(via+"/sentinel", via),
				del(via+"/a.txt", via+"/a.txt"),
			} {
				_ = Apply(ctx, f.rootfs, []Change{c})
				f.checkOutside(t)
			}
		})
	}
	// Where the link's target exists in the root (and not on the host),
	// the write lands there.
	f := newFixture(t)
	mirror := filepath.Join(filepath.Dir(f.outside), "mirror")
	f.link(t, "app", mirror)
	if err := os.MkdirAll(filepath.Join(f.rootfs, mirror), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Apply(context.Background(), f.rootfs, []Change{f.write("/app/src/a.txt", "/app/src")}); err != nil {
		t.Fatal(err)
	}
	if raw, err := os.ReadFile(filepath.Join(f.rootfs, mirror, "src", "a.txt")); err != nil || string(raw) != "edit" {
		t.Errorf("synced into the root's %s: %q, %v", mirror, raw, err)
	}
	f.checkOutside(t)
}

// Below the rule's target no link is followed: writes and deletes through
// one are refused; a link as the synced name is replaced or removed
// itself.
func TestLinksBelowTheTarget(t *testing.T) {
	for _, tc := range []struct {
		name        string
		target, via func(f *fixture) string
	}{
		{"absolute", func(f *fixture) string { return f.outside }, nil},
		{"absolute file", func(f *fixture) string { return filepath.Join(f.outside, "a.txt") }, nil},
		{"relative", func(f *fixture) string { return "../../outside" }, nil},
		{"root", func(f *fixture) string { return "/" }, func(f *fixture) string { return "/app/src" + f.outside }},
		{"dangling", func(f *fixture) string { return filepath.Join(f.outside, "missing") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.link(t, "app/src", tc.target(f))
			via := "/app/src"
			if tc.via != nil {
				via = tc.via(f)
			}
			ctx := context.Background()
			for _, c := range []Change{
				f.write(via+"/a.txt", "/app"),
				f.write(via+"/src/a.txt", "/app"),
				f.write(via+"/new/b.txt", "/app"),
				del(via+"/sentinel", "/app"),
				del(via+"/a.txt", "/app"),
			} {
				if err := Apply(ctx, f.rootfs, []Change{c}); err == nil && !c.Deleted {
					t.Errorf("%s went through the link", c.Path)
				}
				f.checkOutside(t)
			}
			// The link itself, as the synced name: replaced by the file,
			// or removed.
			if err := Apply(ctx, f.rootfs, []Change{f.write("/app/src", "/app")}); err != nil {
				t.Fatal(err)
			}
			if raw, err := os.ReadFile(filepath.Join(f.rootfs, "app", "src")); err != nil || string(raw) != "edit" {
				t.Errorf("app/src: %q, %v", raw, err)
			}
			f.link(t, "app/l", tc.target(f))
			if err := Apply(ctx, f.rootfs, []Change{del("/app/l", "/app")}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(filepath.Join(f.rootfs, "app", "l")); err == nil {
				t.Error("the deleted link is still there")
			}
			f.checkOutside(t)
		})
	}
}
