package native

import (
	"bytes"
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/volume"
	"github.com/hoist-dev/hoist/runspec"
)

// hostOutside is a host directory, /tmp/<testdir>/outside, that a hostile
// container, image or build step aims its symlinks at, holding one
// sentinel file; check fails when anything in it was created, written or
// removed.
type hostOutside struct {
	dir    string
	before map[string]string
}

func newHostOutside(t *testing.T) *hostOutside {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "hoist-inroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	h := &hostOutside{dir: filepath.Join(base, "outside")}
	if err := os.Mkdir(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "sentinel"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.before = h.snapshot(t)
	return h
}

func (h *hostOutside) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(h.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
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

func (h *hostOutside) check(t *testing.T) {
	t.Helper()
	if now := h.snapshot(t); !maps.Equal(now, h.before) {
		t.Fatalf("the host outside the container changed:\nbefore %v\nafter  %v", h.before, now)
	}
}

// buildImage builds an inline Dockerfile FROM the test image into tag.
func buildImage(t *testing.T, b *Backend, tag string, lines ...string) {
	t.Helper()
	spec := engine.BuildSpec{Tag: tag, Context: t.TempDir(), Inline: "FROM " + testImage + "\n" + strings.Join(lines, "\n") + "\n"}
	if _, err := b.Build(testCtx(t), spec, nil); err != nil {
		t.Fatal(err)
	}
}

// Secrets and configs are written into a new container's writable layer
// at paths the image's symlinks aim at the host: above the file
// (absolute, relative with .., dangling), as the file itself, and in a
// lower layer under a directory an upper layer replaced. The host keeps
// its bytes, and nothing of it (its modes, its owners) leaks in.
func TestFilesNeverFollowImageLinks(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	out := newHostOutside(t)
	// A host directory whose mode and owner a lookup that followed the
	// image's /data link would copy into the container.
	if err := os.Mkdir(filepath.Join(out.dir, "sub"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(out.dir, "sub"), 4321, 4321); err != nil {
		t.Fatal(err)
	}
	out.before = out.snapshot(t)
	for i, tc := range []struct {
		name, run, file string
		refused         bool
	}{
		{"above absolute", "mkdir /run && ln -s " + out.dir + " /run/s", "/run/s/token", true},
		{"above relative", "mkdir /cfg && ln -s ../../../../../.." + out.dir + " /cfg/sub", "/cfg/sub/app.conf", true},
		{"above dangling", "ln -s " + out.dir + "/missing /etc/app", "/etc/app/x.conf", true},
		{"the file", "mkdir -p /run/secrets && ln -s " + out.dir + "/sentinel /run/secrets/token", "/run/secrets/token", false},
		{"lower layer", "ln -s " + out.dir + " /data\nRUN rm /data && mkdir -m 750 /data", "/data/sub/x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tag := "inroot-files-" + string(rune('a'+i)) + ":latest"
			buildImage(t, b, tag, "RUN "+tc.run)
			spec := testSpec("filesattack", "app"+string(rune('a'+i)), "true")
			spec.Image, spec.Service.Image = tag, tag
			spec.Files = []runspec.File{{Path: tc.file, Content: []byte("secret"), Mode: 0o400}}
			id, err := b.CreateContainer(ctx, spec.resolved())
			out.check(t)
			if tc.refused {
				if err == nil {
					b.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true})
					t.Fatal("a file was written through a symlink in the image")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true}) })
			upper := filepath.Join(b.layout.LayerDir(id), "upper")
			if raw, err := os.ReadFile(filepath.Join(upper, tc.file)); err != nil || string(raw) != "secret" {
				t.Errorf("%s in the writable layer: %q, %v", tc.file, raw, err)
			}
			fi, err := os.Lstat(filepath.Join(upper, filepath.Dir(tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid == 4321 || fi.Mode().Perm() == 0o711 {
				t.Errorf("%s took the host directory's owner %d or mode %v", filepath.Dir(tc.file), st.Uid, fi.Mode())
			}
		})
	}
}

// Copy-up fills a new volume from the image's content at the mount
// point. The image puts links there that lead to the host (absolute,
// relative with .., dangling, to a file) and a link above the mount point
// of a second volume; a shared volume meanwhile holds a link planted by
// another container. Links are copied as links, nothing is read from or
// written to the host.
func TestVolumeCopyUpNeverFollowsLinks(t *testing.T) {
	b := newBackend(t)
	out := newHostOutside(t)
	buildImage(t, b, "inroot-copyup:latest",
		"RUN mkdir -p /data/sub && echo image > /data/sub/file && ln -s "+out.dir+" /data/abs"+
			" && ln -s ../../../../../.."+out.dir+"/sentinel /data/sub/rel && ln -s "+out.dir+"/missing /data/dangling"+
			" && ln -s "+out.dir+" /srv",
	)
	spec := testSpec("copyup", "app", "sh", "-c", "cat /data/sub/file; ls /srv/data 2>&1; exit 0")
	spec.Image, spec.Service.Image = "inroot-copyup:latest", "inroot-copyup:latest"
	spec.Service.NetworkMode = "none"
	spec.Service.Volumes = []types.ServiceVolumeConfig{
		{Type: types.VolumeTypeVolume, Source: "copyup-data", Target: "/data"},
		{Type: types.VolumeTypeVolume, Source: "copyup-srv", Target: "/srv/data"},
	}
	t.Cleanup(func() {
		b.RemoveVolume(context.Background(), "copyup-data")
		b.RemoveVolume(context.Background(), "copyup-srv")
	})
	id, _ := run(t, b, spec.resolved(), engine.WaitExited)
	out.check(t)
	if got := logs(t, b, id, engine.LogOptions{}); !strings.Contains(got, "image") {
		t.Errorf("the volume was not filled from the image: %q", got)
	}
	vr, err := b.vols.Read("copyup-data")
	if err != nil {
		t.Fatal(err)
	}
	data := b.vols.Data(vr)
	for name, want := range map[string]string{
		"abs": out.dir, "sub/rel": "../../../../../.." + out.dir + "/sentinel", "dangling": out.dir + "/missing",
	} {
		if got, err := os.Readlink(filepath.Join(data, name)); err != nil || got != want {
			t.Errorf("%s in the volume: %q, %v; want the link itself", name, got, err)
		}
	}
	if raw, err := os.ReadFile(filepath.Join(data, "sub", "file")); err != nil || string(raw) != "image\n" {
		t.Errorf("sub/file in the volume: %q, %v", raw, err)
	}

	// A link in the volume (another container that shares it can put one
	// there after the emptiness check) is never written through.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "data", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "data", "sub", "sentinel"), []byte("image"), 0o644); err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	if err := os.Symlink(out.dir, filepath.Join(shared, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := volume.CopyFromRootfs(root, "/data", shared); err == nil {
		t.Error("copied into a volume through a link planted in it")
	}
	out.check(t)
}

// Sync writes what the container sees: under a volume mounted at the
// rule's target, into the volume (the copy helper works in the
// container's mount namespace).
func TestSyncIntoVolume(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	spec := testSpec("syncvol", "app", "sleep", "600")
	spec.Service.NetworkMode = "none"
	spec.Service.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "syncvol-app", Target: "/app"}}
	t.Cleanup(func() { b.RemoveVolume(context.Background(), "syncvol-app") })
	id, _ := run(t, b, spec.resolved(), engine.WaitRunning)
	host := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(host, []byte("synced"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx, id, []engine.SyncChange{{HostPath: host, ContainerPath: "/app/src/a.txt", Root: "/app"}}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code, err := b.Exec(ctx, id, engine.ExecSpec{Cmd: []string{"cat", "/app/src/a.txt"}, Stdout: &out, Stderr: &out}); err != nil || code != 0 || out.String() != "synced" {
		t.Errorf("in the container: %q, %d, %v", out.String(), code, err)
	}
	vr, err := b.vols.Read("syncvol-app")
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := os.ReadFile(filepath.Join(b.vols.Data(vr), "src", "a.txt")); err != nil || string(raw) != "synced" {
		t.Errorf("in the volume: %q, %v", raw, err)
	}
}
