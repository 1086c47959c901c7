package enginetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/internal/testimage"
)

// imageRef is a reference of the project's own, removed when the test
// ends.
func (h *harness) imageRef(what string) string {
	return h.removedRef("hoist-enginetest/" + h.project + "-" + what + ":latest")
}

// removedRef is ref, removed from the engine when the test ends.
func (h *harness) removedRef(ref string) string {
	h.t.Cleanup(func() {
		if r, ok := h.b.(engine.ImageRemover); ok {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_ = r.RemoveImage(ctx, ref, true)
		}
	})
	return ref
}

// runImage runs ref's default command to its end and returns its output.
func (h *harness) runImage(service, ref string) string {
	h.t.Helper()
	spec := h.spec(h.service(service))
	spec.Config.Image = ref
	id := h.run(spec)
	if c := h.wait(id, engine.WaitExited); c.ExitCode != 0 {
		h.t.Errorf("%s exited with %d", ref, c.ExitCode)
	}
	var out bytes.Buffer
	if err := h.b.Logs(h.ctx(), id, engine.LogOptions{}, &out, &out); err != nil {
		h.t.Fatalf("Logs: %v", err)
	}
	return out.String()
}

func rootfs(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := testimage.WriteRootfs(&buf); err != nil {
		t.Fatalf("test image rootfs: %v", err)
	}
	return buf.Bytes()
}

// testImages is hoist image import, ls, inspect and rm: an imported
// image has the configuration its changes give, is listed and runs; a
// container's image cannot be removed, and a removed one is gone.
func testImages(t *testing.T, h *harness) {
	im, ok := h.b.(engine.ImageImporter)
	if !ok {
		t.Fatal("backend is not an engine.ImageImporter")
	}
	ref := h.imageRef("imported")
	id, err := im.ImportImage(h.ctx(), bytes.NewReader(rootfs(t)), ref,
		[]string{`CMD ["sh", "-c", "echo $GREETING from $(pwd)"]`, "ENV GREETING=hi", "WORKDIR /tmp"})
	if err != nil {
		t.Fatalf("ImportImage: %v", err)
	}
	if got, err := h.b.ImageID(h.ctx(), ref); err != nil || got != id {
		t.Errorf("ImageID = %q, %v; want %q", got, err, id)
	}
	if in, ok := h.b.(engine.ImageInspector); ok {
		d, err := in.InspectImage(h.ctx(), ref)
		if err != nil {
			t.Fatalf("InspectImage: %v", err)
		}
		if d.ID != id || d.WorkingDir != "/tmp" || !slices.Contains(d.Env, "GREETING=hi") || strings.Join(d.Cmd, " ") != "sh -c echo $GREETING from $(pwd)" {
			t.Errorf("InspectImage: %+v", d)
		}
	}
	if l, ok := h.b.(engine.ImageLister); ok {
		list, err := l.ListImages(h.ctx())
		if err != nil {
			t.Fatalf("ListImages: %v", err)
		}
		if !slices.ContainsFunc(list, func(s engine.ImageSummary) bool { return s.ID == id && strings.HasSuffix(s.Ref, ref) && s.Size > 0 }) {
			t.Errorf("ListImages has no %s (%s) with a size: %+v", ref, id, list)
		}
	}
	if got := h.runImage("imported", ref); got != "hi from /tmp\n" {
		t.Errorf("the imported image printed %q", got)
	}
	r, ok := h.b.(engine.ImageRemover)
	if !ok {
		return
	}
	if err := r.RemoveImage(h.ctx(), ref, false); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("RemoveImage of a container's image = %v, want ErrConflict", err)
	}
	h.cleanup()
	if err := r.RemoveImage(h.ctx(), ref, false); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	if _, err := h.b.ImageID(h.ctx(), ref); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("ImageID of a removed image = %v, want ErrNotFound", err)
	}
	if err := r.RemoveImage(h.ctx(), ref, false); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("RemoveImage of a removed image = %v, want ErrNotFound", err)
	}
}

// testImageLoader is hoist image load of a docker save archive.
func testImageLoader(t *testing.T, h *harness) {
	l, ok := h.b.(engine.ImageLoader)
	if !ok {
		t.Fatal("backend is not an engine.ImageLoader")
	}
	ref := h.imageRef("loaded")
	layer, err := tarball.LayerFromReader(bytes.NewReader(rootfs(t)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", goruntime.GOARCH
	cfg.Config.Cmd = []string{"echo", "loaded"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := tarball.Write(tag, img, &archive); err != nil {
		t.Fatal(err)
	}
	refs, err := l.LoadImages(h.ctx(), &archive, nil)
	if err != nil {
		t.Fatalf("LoadImages: %v", err)
	}
	if !slices.ContainsFunc(refs, func(r string) bool { return strings.HasSuffix(r, ref) }) {
		t.Errorf("LoadImages = %q, want %s among them", refs, ref)
	}
	if got := h.runImage("loaded", ref); got != "loaded\n" {
		t.Errorf("the loaded image printed %q", got)
	}
}

// testBuilder is hoist build: a Dockerfile's RUN runs FROM a local image
// with the build's arguments, and the image is tagged.
func testBuilder(t *testing.T, h *harness) {
	b, ok := h.b.(engine.Builder)
	if !ok {
		t.Fatal("backend is not an engine.Builder")
	}
	ref := h.imageRef("built")
	greeting := "built-with-arg"
	id, err := b.Build(h.ctx(), engine.BuildSpec{
		Tag:     ref,
		Context: t.TempDir(),
		Inline:  "FROM " + h.image + "\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
		Args:    map[string]*string{"GREETING": &greeting},
	}, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got, err := h.b.ImageID(h.ctx(), ref); err != nil || got != id {
		t.Errorf("ImageID of the build = %q, %v; want %q", got, err, id)
	}
	if got := h.runImage("built", ref); got != greeting+"\n" {
		t.Errorf("the built image printed %q", got)
	}
}

// testPusher is hoist push, then a pull of what was pushed, on a
// registry of this process on 127.0.0.1 (plain HTTP, as Docker allows
// for a loopback registry).
func testPusher(t *testing.T, h *harness) {
	p, ok := h.b.(engine.Pusher)
	im, ok2 := h.b.(engine.ImageImporter)
	r, ok3 := h.b.(engine.ImageRemover)
	if !ok || !ok2 || !ok3 {
		t.Fatal("backend is not an engine.Pusher, ImageImporter and ImageRemover")
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	ref := h.removedRef(strings.TrimPrefix(reg.URL, "http://") + "/hoist-enginetest/" + h.project + "-pushed:latest")
	id, err := im.ImportImage(h.ctx(), bytes.NewReader(rootfs(t)), ref, []string{`CMD ["echo", "pushed"]`})
	if err != nil {
		t.Fatalf("ImportImage: %v", err)
	}
	if err := p.Push(h.ctx(), ref, nil); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if err := r.RemoveImage(h.ctx(), ref, false); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	if err := h.b.Pull(h.ctx(), ref, nil); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if got, err := h.b.ImageID(h.ctx(), ref); err != nil || got != id {
		t.Errorf("ImageID after the pull = %q, %v; want the pushed %q", got, err, id)
	}
	if got := h.runImage("pulled", ref); got != "pushed\n" {
		t.Errorf("the pulled image printed %q", got)
	}
}
