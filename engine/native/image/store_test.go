package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/internal/testimage"
)

func busyboxTar(t *testing.T) []byte {
	t.Helper()
	if err := testimage.Available(); err != nil {
		t.Skip(err)
	}
	var buf bytes.Buffer
	if err := testimage.WriteRootfs(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layerOf(t *testing.T, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testImage is busybox plus a layer that adds /etc/motd and whites out
// /etc/hostname.
func testImage(t *testing.T) v1.Image {
	t.Helper()
	top := tarOf(t,
		ent{typ: tar.TypeDir, name: "etc/", mode: 0o755},
		ent{typ: tar.TypeReg, name: "etc/motd", body: "hello\n"},
		ent{typ: tar.TypeReg, name: "etc/.wh.hostname"},
	)
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, busyboxTar(t)), layerOf(t, top))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func mustRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantID(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// checkResolved resolves ref and checks the ID and the unpacked rootfs.
func checkResolved(t *testing.T, s *Store, ref, id string) *Image {
	t.Helper()
	img, err := s.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", ref, err)
	}
	if id != "" && img.ID != id {
		t.Errorf("ID = %s, want %s", img.ID, id)
	}
	if len(img.Layers) == 0 {
		t.Fatal("no layers")
	}
	if fi, err := os.Stat(filepath.Join(img.Layers[0], "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("lowest layer bin/busybox: %v %v", fi, err)
	}
	return img
}

func TestPullResolveListRemoveGC(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	src := testImage(t)
	ref := reg + "/test/busybox:1"
	if err := remote.Write(mustRef(t, ref), src, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	if _, err := s.Resolve(ctx, ref); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Resolve before pull = %v, want ErrNotFound", err)
	}
	var msgs []string
	if err := s.Pull(ctx, ref, func(m string) { msgs = append(msgs, m) }); err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 {
		t.Error("no progress")
	}
	img := checkResolved(t, s, ref, wantID(t, src))
	if len(img.Layers) != 2 || img.Config.Config.Cmd[0] != "/bin/sh" {
		t.Errorf("layers %v cmd %v", img.Layers, img.Config.Config.Cmd)
	}
	if d, _ := src.Digest(); img.Digest != d.String() {
		t.Errorf("manifest digest %s, want %s", img.Digest, d)
	}
	// By ID and ID prefix too.
	checkResolved(t, s, img.ID, img.ID)
	checkResolved(t, s, strings.TrimPrefix(img.ID, "sha256:")[:12], img.ID)

	// A second pull fetches nothing.
	msgs = nil
	if err := s.Pull(ctx, ref, func(m string) { msgs = append(msgs, m) }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(strings.Join(msgs, "\n"), "already exists"); got != 2 {
		t.Errorf("second pull progress: %q", msgs)
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != img.ID || list[0].Size < 1<<20 || list[0].Ref != ref {
		t.Fatalf("List = %+v", list)
	}

	if freed, err := s.GC(ctx); err != nil || freed != 0 {
		t.Fatalf("GC with the image tagged freed %d, %v", freed, err)
	}
	if err := s.Remove(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, ref); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("second Remove = %v, want ErrNotFound", err)
	}
	// In use by a container: kept although untagged.
	if freed, err := s.GC(ctx, img.ID); err != nil || freed != 0 {
		t.Fatalf("GC with the image in use freed %d, %v", freed, err)
	}
	freed, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if freed < 1<<20 {
		t.Errorf("GC freed %d bytes, want the busybox layer at least", freed)
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(s.Root(), d)); len(ents) != 0 {
			t.Errorf("%s not empty after GC: %v", d, ents)
		}
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("List after remove = %+v", list)
	}
}

func TestPullMultiArchPicksHost(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	host := testImage(t)
	other, err := mutate.ConfigFile(host, &v1.ConfigFile{OS: "linux", Architecture: "s390x"})
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: hostPlatform().Architecture}}},
	)
	ref := reg + "/multi/arch:latest"
	if err := remote.WriteIndex(mustRef(t, ref), idx, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	if err := s.Pull(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	checkResolved(t, s, ref, wantID(t, host))
}

func TestPushAndPullBack(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	s := openStore(t)
	ref := reg + "/pushed/busybox:v1"
	id, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), ref, []string{`CMD ["echo", "hi"]`})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	if err := s.Push(ctx, ref, func(m string) { msgs = append(msgs, m) }); err != nil {
		t.Fatal(err)
	}
	if len(msgs) == 0 {
		t.Error("no push progress")
	}
	s2 := openStore(t)
	if err := s2.Pull(ctx, ref, nil); err != nil {
		t.Fatal(err)
	}
	img := checkResolved(t, s2, ref, id)
	if got := strings.Join(img.Config.Config.Cmd, " "); got != "echo hi" {
		t.Errorf("Cmd = %q", got)
	}
}

func TestImportWithChanges(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	id, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), "example.com/imported:1", []string{
		`ENTRYPOINT ["/bin/sh", "-c"]`,
		`CMD echo hello`,
		`ENV A=1 B="two words"`,
		`WORKDIR /srv`,
		`USER nobody`,
		`EXPOSE 80 53/udp`,
		`LABEL org.example.team=core`,
	})
	if err != nil {
		t.Fatal(err)
	}
	img := checkResolved(t, s, "example.com/imported:1", id)
	c := img.Config.Config
	checks := map[string][2]string{
		"entrypoint": {strings.Join(c.Entrypoint, "|"), "/bin/sh|-c"},
		"cmd":        {strings.Join(c.Cmd, "|"), "/bin/sh|-c|echo hello"},
		"env":        {strings.Join(c.Env, "|"), "A=1|B=two words"},
		"workdir":    {c.WorkingDir, "/srv"},
		"user":       {c.User, "nobody"},
		"label":      {c.Labels["org.example.team"], "core"},
	}
	for k, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", k, v[0], v[1])
		}
	}
	if _, ok := c.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", c.ExposedPorts)
	}
	if _, ok := c.ExposedPorts["53/udp"]; !ok {
		t.Errorf("ExposedPorts = %v", c.ExposedPorts)
	}
	if h := img.Config.History; len(h) != 1 || len(img.Config.RootFS.DiffIDs) != 1 {
		t.Errorf("history %v diff_ids %v", h, img.Config.RootFS.DiffIDs)
	}
	if _, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), "x:1", []string{"RUN rm -rf /"}); err == nil {
		t.Error("RUN accepted as a change")
	}
}

func TestCommitOnParent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	base, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), "base:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	parent := checkResolved(t, s, "base:1", base)
	cfg := parent.Config.DeepCopy()
	cfg.Config.Env = []string{"X=1"}
	id, err := s.Commit(ctx, Commit{
		Ref:    "child:1",
		Parent: "base:1",
		Config: *cfg,
		Layers: []NewLayer{
			{History: v1.History{CreatedBy: "ENV X=1"}},
			{Tar: bytes.NewReader(tarOf(t, ent{typ: tar.TypeReg, name: "app/run", body: "#!/bin/sh\n", mode: 0o755})),
				History: v1.History{CreatedBy: "COPY run /app/run"}},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := checkResolved(t, s, "child:1", id)
	if len(img.Layers) != 2 || img.Layers[0] != parent.Layers[0] {
		t.Fatalf("layers = %v", img.Layers)
	}
	h := img.Config.History
	if len(h) != 3 || !h[1].EmptyLayer || h[2].CreatedBy != "COPY run /app/run" || h[2].EmptyLayer {
		t.Errorf("history = %+v", h)
	}
	if _, err := os.Stat(filepath.Join(img.Layers[1], "app/run")); err != nil {
		t.Error(err)
	}
	// The stored image is valid for registries too.
	vimg, err := s.v1Image(img)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := vimg.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("v1 layers %v %v", layers, err)
	}
	for i, l := range layers {
		d, err := l.DiffID()
		if err != nil || d != img.Config.RootFS.DiffIDs[i] {
			t.Errorf("layer %d diff_id %s %v", i, d, err)
		}
	}
}

func TestLoadDockerSave(t *testing.T) {
	ctx := context.Background()
	src := testImage(t)
	var buf bytes.Buffer
	tag, err := name.NewTag("example.com/saved:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.Write(tag, src, &buf); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	refs, err := s.Load(ctx, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != "example.com/saved:1" {
		t.Fatalf("refs = %v", refs)
	}
	img := checkResolved(t, s, "example.com/saved:1", wantID(t, src))
	if _, err := os.Stat(filepath.Join(img.Layers[1], "etc/motd")); err != nil {
		t.Error(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "tmp")); len(ents) != 0 {
		t.Errorf("tmp left behind: %v", ents)
	}
}

func TestLoadOCILayout(t *testing.T) {
	ctx := context.Background()
	src := testImage(t)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(src, layout.WithAnnotations(map[string]string{annotationRefName: "example.com/oci:2"})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(src); err != nil { // untagged: loaded by ID
		t.Fatal(err)
	}
	s := openStore(t)
	refs, err := s.Load(ctx, bytes.NewReader(tarDir(t, dir)), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := wantID(t, src)
	if strings.Join(refs, ",") != "example.com/oci:2,"+id {
		t.Fatalf("refs = %v", refs)
	}
	checkResolved(t, s, "example.com/oci:2", id)
	checkResolved(t, s, id, id)
}

func TestLoadRefusesSymlinkedLayout(t *testing.T) {
	s := openStore(t)
	archive := tarOf(t,
		ent{typ: tar.TypeReg, name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`},
		ent{typ: tar.TypeSymlink, name: "index.json", link: "/etc/passwd"},
	)
	if _, err := s.Load(context.Background(), bytes.NewReader(archive), nil); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Load = %v, want ErrUnsafe", err)
	}
}

// tarDir archives dir's regular files and directories.
func tarDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = rel
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRegistryErrors(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	dead := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	s := openStore(t)
	if err := s.Pull(ctx, dead+"/x/y:1", nil); err == nil {
		t.Error("pull from a closed registry succeeded")
	}
	if _, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), dead+"/x/y:1", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx, dead+"/x/y:1", nil); err == nil {
		t.Error("push to a closed registry succeeded")
	}
	if err := s.Push(ctx, "nope:1", nil); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("push of a missing image = %v, want ErrNotFound", err)
	}
}

func TestResolveIncompleteImageIsNotFound(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if _, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), "broken:1", nil); err != nil {
		t.Fatal(err)
	}
	img := checkResolved(t, s, "broken:1", "")
	if err := os.RemoveAll(img.Layers[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "broken:1"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Resolve with a missing layer = %v, want ErrNotFound", err)
	}
}

// Readers share one parsed index per Store while index.json is unchanged;
// a change by another Store (another hoist process) or by this one is seen
// at the next read.
func TestIndexReadsFollowChanges(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	other, err := Open(s.root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, bytes.NewReader(busyboxTar(t)), "one:1", nil); err != nil {
		t.Fatal(err)
	}
	a, _ := s.readIndex()
	b, _ := s.readIndex()
	if a != b {
		t.Error("an unchanged index was parsed again")
	}
	if _, err := other.Import(ctx, bytes.NewReader(busyboxTar(t)), "two:1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "two:1"); err != nil {
		t.Fatalf("another store's new image is not seen: %v", err)
	}
	if err := s.Remove(ctx, "one:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Resolve(ctx, "one:1"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a removed image still resolves: %v", err)
	}
	if _, err := s.Resolve(ctx, "one:1"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a removed image still resolves in the store that removed it: %v", err)
	}
}
