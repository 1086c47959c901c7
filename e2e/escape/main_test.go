// Package escape is the escape battery: the same escape attempts, made
// from the same compose files, on both engines, with Docker's defaults as
// the reference. Wherever the docker engine denies an attempt, the native
// engine must deny it too (it may be stricter, never weaker), and where
// an attempt reaches for something on the host (a block device's bytes,
// the user's terminal, a file through a symlink, the init binary) the
// host side is checked, not only the outcome the container saw.
//
// The attempts are made by probe (./probe), a static binary that each
// container gets by a read-only bind mount (a COPY for a build) and that
// prints one JSON line per attempt. They are made from every way into a
// container that applies: the service's own command, exec -T, exec with a
// terminal, run --rm -T, and a RUN step of a build (see ways in
// cases_test.go). Watch sync, cp and image loading are tested apart, as
// the host side of each is hoist's own code.
//
// It needs root, dockerd and the native engine. Outside CI it skips
// when one is missing; with HOIST_REQUIRE_DOCKER=1 and
// HOIST_REQUIRE_NATIVE=1 (CI) it fails instead.
package escape

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testengine"
)

// env is what TestMain found and built, shared by the tests.
var env struct {
	repoRoot  string
	hoistBin  string
	probeBin  string
	dockerErr error // nil: dockerd answers and has the test image
	nativeErr error // nil: root, the native store opens and has the test image
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "escape: "+format+"\n", args...)
		return 1
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		return fail("%v", err)
	}
	env.repoRoot = root
	tmp, err := os.MkdirTemp("", "hoist-escape-bin-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	// World-readable: dockerd bind-mounts the probe from here.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env.hoistBin = filepath.Join(tmp, "hoist")
	env.probeBin = filepath.Join(tmp, "probe")
	if err := testengine.BuildHoist(ctx, root, env.hoistBin); err != nil {
		return fail("%v", err)
	}
	if err := testengine.BuildStatic(ctx, root, "./e2e/escape/probe", env.probeBin); err != nil {
		return fail("%v", err)
	}

	requireDocker := os.Getenv("HOIST_REQUIRE_DOCKER") == "1"
	requireNative := os.Getenv("HOIST_REQUIRE_NATIVE") == "1"
	if requireDocker {
		ensure := exec.CommandContext(ctx, filepath.Join(root, "scripts", "ensure-docker.sh"))
		ensure.Stdout, ensure.Stderr = os.Stderr, os.Stderr
		if err := ensure.Run(); err != nil {
			return fail("HOIST_REQUIRE_DOCKER=1: scripts/ensure-docker.sh: %v", err)
		}
	}
	env.dockerErr = testengine.DockerPing(ctx)
	if env.dockerErr == nil {
		env.dockerErr = testengine.EnsureDockerTestImage(ctx)
	}
	if requireDocker && env.dockerErr != nil {
		return fail("HOIST_REQUIRE_DOCKER=1 but docker is not usable: %v", env.dockerErr)
	}
	env.nativeErr = testengine.NativeUsable(ctx, env.hoistBin)
	if requireNative && env.nativeErr != nil {
		return fail("HOIST_REQUIRE_NATIVE=1 but the native engine is not usable: %v", env.nativeErr)
	}
	if requireDocker || requireNative {
		for _, tool := range []string{"losetup"} {
			if _, err := exec.LookPath(tool); err != nil {
				return fail("%s is missing (util-linux): %v", tool, err)
			}
		}
	}
	return m.Run()
}

// needEngines skips the test (outside CI: TestMain failed already in CI)
// unless both engines are usable: every case compares them.
func needEngines(t *testing.T) {
	t.Helper()
	if env.dockerErr != nil {
		t.Skipf("needs dockerd (HOIST_REQUIRE_DOCKER=1 makes this a failure): %v", env.dockerErr)
	}
	if env.nativeErr != nil {
		t.Skipf("needs root and the native engine (HOIST_REQUIRE_NATIVE=1 makes this a failure): %v", env.nativeErr)
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skipf("needs losetup (util-linux): %v", err)
	}
	// go test caches a package's result by the files its tests read; the
	// binaries are built by child processes, so make go test see the
	// sources, or a change to hoist would leave an old result cached.
	if err := testengine.SeeSources(env.repoRoot); err != nil {
		t.Fatal(err)
	}
}

// engines are the two engines under test; docker is the reference.
var engines = []string{"docker", "native"}
