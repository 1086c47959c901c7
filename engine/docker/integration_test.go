package docker

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/enginetest"
	"github.com/hoist-dev/hoist/engine/enginetest/effective"
	"github.com/hoist-dev/hoist/internal/testengine"
	"github.com/hoist-dev/hoist/internal/testimage"
)

// testImageRef is the busybox image the conformance suite runs; it is
// imported from internal/testimage, so no registry is needed.
const testImageRef = "hoist-test/busybox:latest"

// newRealBackend connects to the local dockerd, skipping the test when
// there is none unless HOIST_REQUIRE_DOCKER=1 (CI) makes that a failure.
func newRealBackend(t *testing.T) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := New(ctx)
	if err != nil {
		if os.Getenv("HOIST_REQUIRE_DOCKER") == "1" {
			t.Fatalf("HOIST_REQUIRE_DOCKER=1: %v", err)
		}
		t.Skipf("no docker: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// ensureTestImage imports the busybox rootfs as testImageRef unless the
// engine already has it.
func ensureTestImage(t *testing.T, b *Backend) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := b.ImageID(ctx, testImageRef); err == nil {
		return testImageRef
	}
	if err := testimage.Available(); err != nil {
		t.Skip(err)
	}
	cli, ok := b.api.(*client.Client)
	if !ok {
		t.Fatal("backend is not on a real client")
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(testimage.WriteRootfs(pw)) }()
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, testImageRef,
		image.ImportOptions{Changes: []string{`CMD ["/bin/sh"]`}})
	if err != nil {
		t.Fatalf("import test image: %v", err)
	}
	defer rc.Close()
	if err := readMessages(rc, nil, nil); err != nil {
		t.Fatalf("import test image: %v", err)
	}
	return testImageRef
}

func TestConformance(t *testing.T) {
	b := newRealBackend(t)
	ref := ensureTestImage(t, b)
	enginetest.Run(t, func(t *testing.T) engine.Backend { return b }, enginetest.Options{
		Image:         ref,
		Inspect:       func(engine.Backend) effective.Inspector { return inspector{b} },
		DockerCompose: dockerCompose(t),
	})
}

// dockerCompose builds docker compose (testengine.ComposeVersion) once
// into the user's cache, for the translation table to compare with.
func dockerCompose(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	bin, err := testengine.DockerCompose(ctx, filepath.Join(cache, "hoist", "compose"))
	if err != nil {
		t.Fatalf("docker compose, to compare the translation table with: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Logf("built docker compose %s in %v", testengine.ComposeVersion, d.Round(time.Second))
	}
	return bin
}
