package enginetest

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// RunSyncer runs the Syncer conformance test alone, against a backend
// whose Sync may be one of several transports (the docker engine's copy
// API besides its writes into the container's root).
func RunSyncer(t *testing.T, newBackend func(t *testing.T) engine.Backend, opts Options) {
	b := newBackend(t)
	h := &harness{t: t, b: b, image: opts.Image, project: uniqueProject()}
	t.Cleanup(h.cleanup)
	testSync(t, h)
}

// exec runs sh -c script in the running container id and returns its
// output (both streams) and exit code; the engine must be an Execer.
func (h *harness) exec(id, script string) (string, int) {
	h.t.Helper()
	ex, ok := h.b.(engine.Execer)
	if !ok {
		h.t.Fatal("the test needs an engine.Execer to look inside the container")
	}
	var out bytes.Buffer
	code, err := ex.Exec(h.ctx(), id, engine.ExecSpec{Cmd: []string{"sh", "-c", script}, Stdout: &out, Stderr: &out})
	if err != nil {
		h.t.Fatalf("exec %q: %v", script, err)
	}
	return out.String(), code
}

// mustExec is exec, failing the test unless the script succeeds.
func (h *harness) mustExec(id, script string) string {
	h.t.Helper()
	out, code := h.exec(id, script)
	if code != 0 {
		h.t.Fatalf("exec %q: exit code %d: %s", script, code, out)
	}
	return out
}

// hostDir is a directory of the host that a hostile container aims its
// symlinks at (by its host path, which its own root does not have),
// holding a sentinel file; check fails when anything in it was created,
// written or removed.
type hostDir struct {
	dir    string
	before map[string]string
}

func newHostDir(t *testing.T) *hostDir {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "hoist-enginetest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	d := &hostDir{dir: filepath.Join(base, "outside")}
	if err := os.Mkdir(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "sentinel"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.before = d.snapshot(t)
	return d
}

func (d *hostDir) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		out[p] = info.Mode().String()
		if info.Mode().IsRegular() {
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] += " " + string(raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (d *hostDir) check(t *testing.T, what string) {
	t.Helper()
	if now := d.snapshot(t); !maps.Equal(now, d.before) {
		t.Fatalf("%s: the host outside the container changed:\nbefore %v\nafter  %v", what, d.before, now)
	}
}

// testSync is develop.watch's sync on a running container: files land
// with their content and mode, a host symlink arrives as a symlink,
// deletes remove; and a container that aims symlinks at the host, or at
// its own directories outside the rule's target, never gets a write or a
// delete through them outside its root, nor, below the target, outside
// the target.
func testSync(t *testing.T, h *harness) {
	s, ok := h.b.(engine.Syncer)
	if !ok {
		t.Fatal("backend is not an engine.Syncer")
	}
	svc := h.service("app", "sh", "-c", "touch /ready; exec sleep 600")
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	h.mustExec(id, "while ! test -e /ready; do sleep 0.05; done")
	ctx := h.ctx()
	host := t.TempDir()
	if err := os.MkdirAll(filepath.Join(host, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"sub/a.py": "print(1)\n", "x.txt": "edit"} {
		if err := os.WriteFile(filepath.Join(host, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(host, "leak")); err != nil {
		t.Fatal(err)
	}
	write := func(p, root string) engine.SyncChange {
		return engine.SyncChange{HostPath: filepath.Join(host, "x.txt"), ContainerPath: p, Root: root}
	}
	deleted := func(p, root string) engine.SyncChange {
		return engine.SyncChange{ContainerPath: p, Root: root, Deleted: true}
	}

	t.Run("files", func(t *testing.T) {
		h.mustExec(id, "rm -rf /app; mkdir /app")
		err := s.Sync(ctx, id, []engine.SyncChange{
			{HostPath: filepath.Join(host, "sub", "a.py"), ContainerPath: "/app/sub/a.py", Root: "/app"},
			{HostPath: filepath.Join(host, "leak"), ContainerPath: "/app/leak", Root: "/app"},
		})
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if out, _ := h.exec(id, "cat /app/sub/a.py; stat -c %a /app/sub/a.py"); out != "print(1)\n640\n" {
			t.Errorf("synced content and mode %q, want print(1) and 640", out)
		}
		// A host symlink arrives as a symlink, not as the host file's
		// content.
		if out, _ := h.exec(id, "readlink /app/leak"); strings.TrimSpace(out) != "/etc/hostname" {
			t.Errorf("/app/leak is not the host's symlink: readlink says %q", out)
		}
		if err := s.Sync(ctx, id, []engine.SyncChange{deleted("/app/sub/a.py", "/app")}); err != nil {
			t.Fatalf("Sync delete: %v", err)
		}
		if _, code := h.exec(id, "test -e /app/sub/a.py"); code == 0 {
			t.Error("the deleted file is still there")
		}
		if err := s.Sync(ctx, id, []engine.SyncChange{deleted("/app/sub", "/app")}); err != nil {
			t.Fatalf("Sync delete: %v", err)
		}
		if _, code := h.exec(id, "test -e /app/sub"); code == 0 {
			t.Error("the deleted directory is still there")
		}
		if err := s.Sync(ctx, id, []engine.SyncChange{write("/etc/x.txt", "/app")}); err == nil {
			t.Error("a path outside the rule's root was accepted")
		}
		if _, code := h.exec(id, "test -e /etc/x.txt"); code == 0 {
			t.Error("a path outside the rule's root was written")
		}
	})

	// Below the target no link is followed: a write or a delete through
	// one is refused, naming the symlink, and nothing lands where it
	// points in the container.
	t.Run("links below the target", func(t *testing.T) {
		h.mustExec(id, "rm -rf /app /outside /etc/x.txt; mkdir -p /app /outside && ln -s /outside /app/evil && ln -s / /app/root")
		for _, through := range []string{"/app/evil/x.txt", "/app/root/etc/x.txt"} {
			err := s.Sync(ctx, id, []engine.SyncChange{write(through, "/app")})
			if err == nil || !strings.Contains(err.Error(), "symlink") {
				t.Errorf("sync to %s: err = %v, want a refusal naming the symlink", through, err)
			}
		}
		if _, code := h.exec(id, "test -e /outside/x.txt"); code == 0 {
			t.Error("a write went through a symlink outside the target")
		}
		if _, code := h.exec(id, "test -e /etc/x.txt"); code == 0 {
			t.Error("a write went through a symlink to /")
		}
	})

	// The reported attack on watch sync: a rule ./src -> /app/src; the
	// container replaces /app by a symlink to a host directory (absolute,
	// relative with .., dangling, or / with the host's path after it), or
	// puts one below the target; edits are synced. Nothing may change on
	// the host.
	out := newHostDir(t)
	for _, tc := range []struct{ name, setup, root, via string }{
		{"above absolute", "ln -s " + out.dir + " /app", "/app/src", "/app/src"},
		{"above relative", "ln -s ../../../../../../.." + out.dir + " /app", "/app/src", "/app/src"},
		{"above dangling", "ln -s " + out.dir + "/missing /app", "/app/src", "/app/src"},
		{"above root", "ln -s / /app", "/app" + out.dir, "/app" + out.dir},
		{"below absolute", "mkdir /app; ln -s " + out.dir + " /app/src", "/app/src", "/app/src"},
		{"below relative", "mkdir /app; ln -s ../../../../../../.." + out.dir + " /app/src", "/app/src", "/app/src"},
		{"below file", "mkdir -p /app/src; ln -s " + out.dir + "/sentinel /app/src/sentinel", "/app/src", "/app/src"},
		{"below root", "mkdir -p /app/src; ln -s / /app/src/l", "/app/src", "/app/src/l" + out.dir},
	} {
		t.Run("host "+tc.name, func(t *testing.T) {
			h.mustExec(id, "rm -rf /app; "+tc.setup)
			for _, c := range []engine.SyncChange{
				write(tc.via+"/a.txt", tc.root),
				write(tc.via+"/new/b.txt", tc.root),
				write(tc.via+"/sentinel/x", tc.root),
				write(tc.via+"/sentinel", tc.root),
				deleted(tc.via+"/sentinel", tc.root),
			} {
				_ = s.Sync(ctx, id, []engine.SyncChange{c})
				out.check(t, c.ContainerPath)
			}
		})
	}

	// Links above the target are the container's own: followed inside
	// its root, a write lands there.
	t.Run("links above the target", func(t *testing.T) {
		h.mustExec(id, "rm -rf /app /srv/real; mkdir -p /srv/real; ln -s /srv/real /app")
		if err := s.Sync(ctx, id, []engine.SyncChange{write("/app/src/a.txt", "/app/src")}); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if got := h.mustExec(id, "cat /srv/real/src/a.txt"); got != "edit" {
			t.Errorf("sync through the container's own link: %q, want edit", got)
		}
		out.check(t, "the container's own link")
	})
}
