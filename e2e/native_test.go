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
//	    container IDs.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hoist-dev/hoist/internal/testimage"
)

const nativeRunDir = "/run/hoist"

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
	if os.Geteuid() != 0 {
		return fmt.Errorf("the native engine needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// image ls also proves the store opens; inspect tells whether the
	// test image is there.
	out, err := exec.CommandContext(ctx, hoistBin, "--engine", "native", "image", "ls", "-q").CombinedOutput()
	if err != nil {
		return fmt.Errorf("hoist --engine native image ls: %v: %s", err, bytes.TrimSpace(out))
	}
	if exec.CommandContext(ctx, hoistBin, "--engine", "native", "image", "inspect", testImage).Run() == nil {
		return nil
	}
	if err := testimage.Available(); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(testimage.WriteRootfs(pw)) }()
	cmd := exec.CommandContext(ctx, hoistBin, "--engine", "native", "image", "import", "--change", `CMD ["sh"]`, "-", testImage)
	cmd.Stdin = pr
	out, err = cmd.CombinedOutput()
	pr.Close()
	if err != nil {
		return fmt.Errorf("hoist --engine native image import %s: %v: %s", testImage, err, out)
	}
	return nil
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
}

// nativeLeftovers lists what is left of project (and of the containers
// ids) on the host; empty means nothing.
func nativeLeftovers(project string, ids []string) string {
	var b strings.Builder
	runDir := filepath.Join(nativeRunDir, project) + "/"
	if out, err := exec.Command("ip", "-o", "link").CombinedOutput(); err != nil {
		fmt.Fprintf(&b, "ip -o link: %v: %s\n", err, out)
	} else {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "alias hoist:"+project+"/") {
				fmt.Fprintf(&b, "link: %s\n", line)
			}
		}
	}
	if out, err := exec.Command("nft", "list", "table", "ip", "hoist-"+project).CombinedOutput(); err == nil {
		fmt.Fprintf(&b, "nftables table ip hoist-%s:\n%s\n", project, out)
	}
	for _, chain := range []string{"FORWARD", "DOCKER-USER"} {
		if out, err := exec.Command("iptables", "-w", "-S", chain).Output(); err == nil {
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "hoist:"+project+" ") || strings.Contains(line, `"hoist:`+project+`"`) || strings.HasSuffix(line, "hoist:"+project) {
					fmt.Fprintf(&b, "iptables rule: %s\n", line)
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, runDir) || containsAny(line, ids) {
				fmt.Fprintf(&b, "mount: %s\n", line)
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && (bytes.Contains(data, []byte(runDir)) || containsAny(string(data), ids)) {
			fmt.Fprintf(&b, "process %s: %s\n", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
		}
	}
	if _, err := os.Stat(runDir); err == nil {
		fmt.Fprintf(&b, "run dir %s\n", runDir)
	}
	nets, _ := filepath.Glob(filepath.Join(nativeRunDir, "networks", project+"_*.json"))
	for _, n := range nets {
		fmt.Fprintf(&b, "network record %s\n", n)
	}
	if len(ids) > 0 {
		for _, ctrl := range []string{"memory", "cpu", "pids", "unified"} {
			root := filepath.Join("/sys/fs/cgroup", ctrl)
			_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				if containsAny(d.Name(), ids) {
					fmt.Fprintf(&b, "cgroup %s\n", path)
					return filepath.SkipDir
				}
				return nil
			})
		}
	}
	return b.String()
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
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
}
