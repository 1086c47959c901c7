package e2e

// The native engine in the e2e scripts.
//
// Conditions:
//
//	[native]        root, and hoist --engine native opens its store (with
//	                HOIST_REQUIRE_NATIVE=1 it must, and the sample images
//	                must load)
//	[nativesample]  [native] and the sample's images in the native store
//	                (samples/images/load.sh with HOIST_ENGINE=native, run by
//	                TestMain when the rootfs tarball is cached or required)
//
// Every script also gets a deferred native cleanup when [native] holds:
// `hoist -p $PROJECT down -v --remove-orphans -t 0 --rmi local` on the
// native engine, the same for $PROJECT-2 (a script's second project),
// then the nativeleaks check of both.
//
//	nativeleaks PROJECT [IDFILE]  nothing of PROJECT is left on the host:
//	    no link tagged hoist:PROJECT/ (bridges, veths), no nftables table
//	    hoist-PROJECT, no iptables rule commented hoist:PROJECT, no mount or process under /run/hoist/PROJECT, no
//	    /run/hoist/PROJECT, no network record; with IDFILE (`ps -a -q`
//	    output saved before down) no mount, cgroup or process naming those
//	    container IDs. Nor is any network of a native build that is over
//	    (testengine.NativeBuildLeftovers).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hoist-dev/hoist/internal/testengine"
	"github.com/hoist-dev/hoist/internal/testimage"
)

const nativeRunDir = testengine.NativeRunDir

var (
	nativeOK       bool
	nativeErr      error
	nativeSampleOK bool
)

func init() {
	commands["nativeleaks"] = cmdNativeLeaks
	commands["testimage"] = cmdTestImage
}

// testimage FILE writes the busybox test image's rootfs as a tarball, for
// a script that imports it into a native store of its own.
func cmdTestImage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: testimage FILE")
	}
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	err = testimage.WriteRootfs(f)
	ts.Check(errors.Join(err, f.Close()))
}

// setupNative decides [native] and [nativesample], importing the test
// images into the native store when they are missing.
func setupNative() error {
	require := os.Getenv("HOIST_REQUIRE_NATIVE") == "1"
	nativeErr = nativeUsable()
	nativeOK = nativeErr == nil
	if !nativeOK {
		if require {
			return fmt.Errorf("HOIST_REQUIRE_NATIVE=1 but the native engine is not usable: %v", nativeErr)
		}
		return nil
	}
	tarball := "/var/cache/hoist/images/bookworm-sample.tar"
	if _, err := os.Stat(tarball); err != nil && !require {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	load := exec.CommandContext(ctx, filepath.Join(repoRoot, "samples", "images", "load.sh"))
	load.Env = append(os.Environ(), "HOIST_ENGINE=native", "HOIST_BIN="+hoistBin)
	load.Stderr = os.Stderr
	out, err := load.Output()
	if err != nil {
		if require {
			return fmt.Errorf("HOIST_REQUIRE_NATIVE=1: samples/images/load.sh (native): %v", err)
		}
		return nil
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	for _, k := range []string{"PYTHON_IMAGE", "REDIS_IMAGE"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, vars[k])
		} else if os.Getenv(k) != vars[k] {
			return fmt.Errorf("%s=%s, but samples/images/load.sh loads %s", k, os.Getenv(k), vars[k])
		}
	}
	nativeSampleOK = os.Getenv("PYTHON_IMAGE") != "" && os.Getenv("REDIS_IMAGE") != ""
	return nil
}

// nativeUsable checks root and the native store, and imports the busybox
// test image into it when missing.
func nativeUsable() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return testengine.NativeUsable(ctx, hoistBin)
}

// nativeCleanup takes the script's native projects down and checks that
// nothing is left; errorf reports.
func nativeCleanup(project string, errorf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "hoist-e2e-down-")
	if err != nil {
		errorf("%v", err)
		return
	}
	defer os.RemoveAll(dir)
	for _, p := range []string{project, project + "-2"} {
		down := exec.CommandContext(ctx, hoistBin, "-p", p, "--progress", "plain", "down", "-v", "--remove-orphans", "-t", "0", "--rmi", "local")
		down.Dir = dir
		down.Env = append(os.Environ(), "HOIST_ENGINE=native", "DOCKER_HOST=unix:///nonexistent")
		if out, err := down.CombinedOutput(); err != nil {
			errorf("cleanup: hoist --engine native -p %s down: %v\n%s", p, err, out)
		}
		if left := nativeLeftovers(p, nil); left != "" {
			errorf("cleanup: project %s left behind on the native engine after down:\n%s", p, left)
		}
	}
	// The builder's networks are the build's, not the project's: none of
	// a build that is over may be left.
	if left := testengine.NativeBuildLeftovers(nativeRunDir, 0); left != "" {
		errorf("cleanup: the native builder's networks of builds that are over are left:\n%s", left)
	}
}

// nativeLeftovers lists what is left of project (and of the containers
// ids) on the host; empty means nothing.
func nativeLeftovers(project string, ids []string) string {
	return testengine.NativeLeftovers(project, ids)
}

// nativeleaks PROJECT [IDFILE]
func cmdNativeLeaks(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: nativeleaks PROJECT [IDFILE]")
	}
	var ids []string
	if len(args) == 2 {
		ids = strings.Fields(ts.ReadFile(args[1]))
		if len(ids) == 0 {
			ts.Fatalf("%s holds no container IDs", args[1])
		}
	}
	if left := nativeLeftovers(args[0], ids); left != "" {
		ts.Fatalf("project %s left behind:\n%s", args[0], left)
	}
	if left := testengine.NativeBuildLeftovers(nativeRunDir, 0); left != "" {
		ts.Fatalf("the native builder's networks of builds that are over are left:\n%s", left)
	}
}
