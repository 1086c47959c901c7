// Package e2e runs the real hoist binary against a real Docker Engine with
// testscript: every testdata/*.txtar holds a compose file and the commands,
// and asserts on state (ps --format json, HTTP, docker inspect), never on
// progress text.
//
// Conditions:
//
//	[docker]  dockerd answers (with HOIST_REQUIRE_DOCKER=1 it must)
//	[sample]  PYTHON_IMAGE and REDIS_IMAGE are set (samples/images/load.sh)
//	[native], [nativesample]  the native engine; see native_test.go
//
// Every script gets $PROJECT (its name plus a random suffix), $HOIST_REPO
// (the repository root, for samples/) and a deferred cleanup: `hoist -p
// $PROJECT down -v --remove-orphans -t 0`, then a check that no container,
// network, volume or built image of the project is left.
//
// Custom commands (every wait has a deadline; none sleeps a fixed time):
//
//	waithttp URL SUBSTRING [timeout]   GET (127.0.0.0/8 only) until the body contains SUBSTRING
//	httpget URL                        the body on stdout; ! httpget: the GET fails
//	noleaks PROJECT                    nothing of the project is left in dockerd
//	freeport VAR / holdport PORT       pick a free port / hold it until the script ends
//	psjson PROJECT SERVICE FIELD WANT  a field of `hoist ps -a --format json`
//	ids PROJECT [SERVICE...]           sorted "service id" lines, for cmp across runs
//	waitcontainer PROJECT SERVICE [timeout]
//	waitfor TIMEOUT REGEXP PROG [ARGS...]  rerun PROG until its stdout matches
//	exitcode WANT PROG [ARGS...]       run PROG, require exit status WANT
//	bgstart NAME PROG [ARGS...] / bgsignal NAME INT / bgwait NAME WANT [timeout]
//	                                   background processes with their exit status
//	                                   (testscript's wait only tells pass from fail)
//	jsonvalid FILE                     FILE (or stdout) is valid JSON
//	bgmark NAME / bgwaitout NAME REGEXP [timeout]
//	                                   wait for a background process's stderr since
//	                                   the mark to match (hoist watch's action lines)
//	waitchange TIMEOUT FILE PROG [ARGS...]  rerun PROG until its stdout differs from FILE
//
// PROG "hoist" is the binary built by TestMain; KEY=VALUE arguments before
// PROG add to its environment. hoist-test-provider (internal/testprovider),
// the provider of the scripts' provider services, is on their PATH.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hoist-dev/hoist/internal/testengine"
)

// testImage is the busybox image the scripts' small services run.
const testImage = testengine.TestImage

var (
	hoistBin  string // the binary built by TestMain
	repoRoot  string
	dockerOK  bool
	dockerErr error
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
		return 1
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return fail("%v", err)
	}
	repoRoot = root
	tmp, err := os.MkdirTemp("", "hoist-e2e-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)
	hoistBin = filepath.Join(tmp, "bin", "hoist")
	if err := testengine.BuildHoist(context.Background(), repoRoot, hoistBin); err != nil {
		return fail("%v", err)
	}
	// The provider of provider services the scripts use, on their PATH.
	if err := testengine.BuildStatic(context.Background(), repoRoot, "./internal/testprovider", filepath.Join(filepath.Dir(hoistBin), "hoist-test-provider")); err != nil {
		return fail("%v", err)
	}

	require := os.Getenv("HOIST_REQUIRE_DOCKER") == "1"
	if require {
		ensure := exec.Command(filepath.Join(repoRoot, "scripts", "ensure-docker.sh"))
		ensure.Stdout, ensure.Stderr = os.Stderr, os.Stderr
		if err := ensure.Run(); err != nil {
			return fail("HOIST_REQUIRE_DOCKER=1: scripts/ensure-docker.sh: %v", err)
		}
		if _, err := exec.LookPath("redis-cli"); err != nil {
			return fail("HOIST_REQUIRE_DOCKER=1: redis-cli is missing (apt-get install -y redis-tools; go tool task test installs it): %v", err)
		}
		if os.Getenv("PYTHON_IMAGE") == "" || os.Getenv("REDIS_IMAGE") == "" {
			return fail("HOIST_REQUIRE_DOCKER=1: PYTHON_IMAGE and REDIS_IMAGE must be set: eval \"$(samples/images/load.sh)\" and export them")
		}
	}
	dockerErr = dockerPing()
	dockerOK = dockerErr == nil
	if dockerOK {
		if err := ensureTestImage(); err != nil {
			dockerOK, dockerErr = false, err
		}
	}
	if require && !dockerOK {
		return fail("HOIST_REQUIRE_DOCKER=1 but docker is not usable: %v", dockerErr)
	}
	if err := setupNative(); err != nil {
		return fail("%v", err)
	}
	return m.Run()
}

func dockerPing() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return testengine.DockerPing(ctx)
}

// ensureTestImage imports the busybox rootfs as testImage unless present.
func ensureTestImage() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return testengine.EnsureDockerTestImage(ctx)
}

func TestScripts(t *testing.T) {
	// Here, not in TestMain: go test logs the files a test consults only
	// once the tests run.
	if err := testengine.SeeSources(repoRoot); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup:               setup,
		Condition:           condition,
		Cmds:                commands,
	})
}

func condition(cond string) (bool, error) {
	switch cond {
	case "docker":
		return dockerOK, nil
	case "sample":
		return dockerOK && os.Getenv("PYTHON_IMAGE") != "" && os.Getenv("REDIS_IMAGE") != "", nil
	case "native":
		return nativeOK, nil
	case "nativesample":
		return nativeOK && nativeSampleOK, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

type valueKey int

const (
	keyEnv valueKey = iota // []string: the variables Setup passed on
	keyBG                  // *bgSet: the script's background processes
)

var reNotName = regexp.MustCompile(`[^a-z0-9]+`)

func setup(env *testscript.Env) error {
	name := reNotName.ReplaceAllString(strings.ToLower(filepath.Base(env.WorkDir)), "")
	name = strings.TrimPrefix(name, "script")
	if len(name) > 20 {
		name = name[:20]
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	project := "e2e" + name + "-" + hex.EncodeToString(suffix)

	env.Setenv("PATH", filepath.Dir(hoistBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	env.Setenv("PROJECT", project)
	env.Setenv("HOIST_REPO", repoRoot)
	env.Setenv("HOIST_ENGINE", "docker")
	for _, k := range []string{"PYTHON_IMAGE", "REDIS_IMAGE", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"} {
		if v := os.Getenv(k); v != "" {
			env.Setenv(k, v)
		}
	}
	env.Values[keyEnv] = append([]string(nil), env.Vars...)
	bg := &bgSet{procs: map[string]*bgProc{}}
	env.Values[keyBG] = bg

	errorf := func(format string, args ...any) {
		if t, ok := env.T().(interface{ Errorf(string, ...any) }); ok {
			t.Errorf(format, args...)
			return
		}
		env.T().Log(fmt.Sprintf(format, args...))
		env.T().FailNow()
	}
	if nativeOK {
		env.Defer(func() { nativeCleanup(project, errorf) })
	}
	if !dockerOK {
		env.Defer(bg.stopAll)
		return nil
	}
	// Deferred calls run last-registered first: stop background processes,
	// then take the project down, then check nothing is left.
	env.Defer(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// An empty directory: down must work from the project name alone,
		// even when the script's compose file is broken.
		dir, err := os.MkdirTemp("", "hoist-e2e-down-")
		if err != nil {
			errorf("%v", err)
			return
		}
		defer os.RemoveAll(dir)
		down := exec.CommandContext(ctx, hoistBin, "-p", project, "--progress", "plain", "down", "-v", "--remove-orphans", "-t", "0")
		down.Dir = dir
		down.Env = append(os.Environ(), "HOIST_ENGINE=docker")
		if out, err := down.CombinedOutput(); err != nil {
			errorf("cleanup: hoist -p %s down: %v\n%s", project, err, out)
		}
		// Images built for the project (<project>-<service>), by name: the
		// same build in another script has the same ID, which a running
		// container of that script holds.
		if out, err := exec.CommandContext(ctx, "docker", "images", "--filter", "reference="+project+"-*", "--format", "{{.Repository}}:{{.Tag}}").Output(); err == nil {
			if refs := strings.Fields(string(out)); len(refs) > 0 {
				exec.CommandContext(ctx, "docker", append([]string{"rmi", "-f"}, refs...)...).Run()
			}
		}
		if left := leftovers(ctx, project); left != "" {
			errorf("cleanup: project %s left behind after down:\n%s", project, left)
		}
	})
	env.Defer(bg.stopAll)
	return nil
}

// leftovers lists the project's containers, networks, volumes and built
// images; empty means nothing is left.
func leftovers(ctx context.Context, project string) string {
	return testengine.DockerLeftovers(ctx, project)
}
