// Package testengine prepares and checks the two engines for the
// end-to-end tests that drive the real hoist binary (e2e, e2e/escape):
// it builds hoist, tells whether dockerd and the native store are usable,
// imports the busybox test image into each, and lists what a project left
// behind on the host after its down.
package testengine

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
	"strconv"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/testimage"
)

// TestImage is the busybox image the tests' small services run.
const TestImage = "hoist-test/busybox:latest"

// NativeRunDir is the native engine's run state directory.
const NativeRunDir = store.DefaultRunDir

// BuildHoist builds ./cmd/hoist of repoRoot into out, static as the
// Taskfile's build makes it.
func BuildHoist(ctx context.Context, repoRoot, out string) error {
	return BuildStatic(ctx, repoRoot, "./cmd/hoist", out)
}

// BuildStatic builds the main package pkg (relative to repoRoot) into
// out with CGO_ENABLED=0.
func BuildStatic(ctx context.Context, repoRoot, pkg, out string) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return nil
}

// DockerPing tells whether dockerd answers.
func DockerPing(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker version: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// EnsureDockerTestImage imports the busybox rootfs into dockerd as
// TestImage unless it is there.
func EnsureDockerTestImage(ctx context.Context) error {
	if exec.CommandContext(ctx, "docker", "image", "inspect", TestImage).Run() == nil {
		return nil
	}
	return importRootfs(ctx, "docker", "import", "--change", `CMD ["sh"]`, "-", TestImage)
}

// NativeUsable checks root and the native store (hoistBin's), and imports
// the busybox test image into the store when it is missing.
func NativeUsable(ctx context.Context, hoistBin string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the native engine needs root")
	}
	// image ls also proves the store opens; inspect tells whether the
	// test image is there.
	out, err := exec.CommandContext(ctx, hoistBin, "--engine", "native", "image", "ls", "-q").CombinedOutput()
	if err != nil {
		return fmt.Errorf("hoist --engine native image ls: %v: %s", err, bytes.TrimSpace(out))
	}
	if exec.CommandContext(ctx, hoistBin, "--engine", "native", "image", "inspect", TestImage).Run() == nil {
		return nil
	}
	return importRootfs(ctx, hoistBin, "--engine", "native", "image", "import", "--change", `CMD ["sh"]`, "-", TestImage)
}

// importRootfs runs prog args with the busybox rootfs tarball on stdin.
func importRootfs(ctx context.Context, prog string, args ...string) error {
	if err := testimage.Available(); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(testimage.WriteRootfs(pw)) }()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	pr.Close()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", filepath.Base(prog), strings.Join(args, " "), err, out)
	}
	return nil
}

// DockerLeftovers lists the project's containers, networks, volumes and
// built images in dockerd; empty means nothing is left.
func DockerLeftovers(ctx context.Context, project string) string {
	label := "label=com.docker.compose.project=" + project
	var b strings.Builder
	for _, q := range []struct {
		what string
		args []string
	}{
		{"containers", []string{"ps", "-a", "--filter", label, "--format", "{{.ID}} {{.Names}} {{.Status}}"}},
		{"networks", []string{"network", "ls", "--filter", label, "--format", "{{.ID}} {{.Name}}"}},
		{"volumes", []string{"volume", "ls", "--filter", label, "--format", "{{.Name}}"}},
		{"images", []string{"images", "--filter", "reference=" + project + "-*", "--format", "{{.ID}} {{.Repository}}"}},
	} {
		out, err := exec.CommandContext(ctx, "docker", q.args...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(&b, "%s: docker %s: %v: %s\n", q.what, strings.Join(q.args, " "), err, out)
			continue
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			fmt.Fprintf(&b, "%s:\n%s\n", q.what, s)
		}
	}
	return b.String()
}

// NativeLeftovers lists what is left of project (and of the containers
// ids) on the host: links tagged hoist:PROJECT/, its nftables table and
// iptables rules, mounts and processes under its run dir, the run dir,
// network records, and with ids, mounts, processes and cgroups naming
// them. Empty means nothing.
func NativeLeftovers(project string, ids []string) string {
	var b strings.Builder
	runDir := filepath.Join(NativeRunDir, project) + "/"
	if out, err := exec.Command("ip", "-o", "link").CombinedOutput(); err != nil {
		fmt.Fprintf(&b, "ip -o link: %v: %s\n", err, out)
	} else {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "alias hoist:"+project+"/") {
				fmt.Fprintf(&b, "link: %s\n", line)
			}
		}
	}
	tables, err := nftTables()
	if err != nil {
		fmt.Fprintf(&b, "%v\n", err)
	}
	for _, t := range tables {
		if t == "hoist-"+project {
			fmt.Fprintf(&b, "nftables table ip %s\n", t)
		}
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
	nets, _ := filepath.Glob(filepath.Join(NativeRunDir, "networks", project+"_*.json"))
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

// nftTables lists the host's nftables tables of family ip, through
// netlink: the nft command is not always installed, and a check that
// quietly cannot run finds nothing.
func nftTables() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("nftables: list tables: %w", err)
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out, nil
}

// buildPrefix starts the name of the native builder's network of a build,
// a project of the network manager: build.<pid>.<hex> (engine/native,
// buildNetworks).
const buildPrefix = "build."

// NativeBuildLeftovers lists what is left of the native builder's networks
// of builds that are over: their directories under runDir, links tagged
// hoist:build.<pid>.<hex>/, nftables tables hoist-build.<pid>.<hex> and
// iptables rules commented with the name. Empty means nothing.
//
// With pid > 0 only that process's builds are looked at, and all of them
// must be gone (the caller knows none is running). With pid 0, the builds
// are those with a directory under runDir whose process is gone or no
// longer holds its owner.lock: links and tables are host-wide, and a
// build of another run directory (another test's) is not this caller's
// to judge, even when it was killed and waits for its next build.
func NativeBuildLeftovers(runDir string, pid int) string {
	found := map[string][]string{} // project -> what is left
	add := func(project, what string) {
		if pid > 0 && !strings.HasPrefix(project, fmt.Sprintf("%s%d.", buildPrefix, pid)) {
			return
		}
		found[project] = append(found[project], what)
	}
	var b strings.Builder
	dirs, _ := filepath.Glob(filepath.Join(runDir, buildPrefix+"*"))
	for _, d := range dirs {
		add(filepath.Base(d), "run dir "+d)
	}
	if out, err := exec.Command("ip", "-o", "link").CombinedOutput(); err != nil {
		fmt.Fprintf(&b, "ip -o link: %v: %s\n", err, out)
	} else {
		for _, line := range strings.Split(string(out), "\n") {
			_, alias, ok := strings.Cut(line, "alias hoist:"+buildPrefix)
			if ok {
				project, _, _ := strings.Cut(alias, "/")
				add(buildPrefix+project, "link: "+line)
			}
		}
	}
	tables, err := nftTables()
	if err != nil {
		fmt.Fprintf(&b, "%v\n", err)
	}
	for _, t := range tables {
		if project, ok := strings.CutPrefix(t, "hoist-"); ok && strings.HasPrefix(project, buildPrefix) {
			add(project, "nftables table ip "+t)
		}
	}
	for _, chain := range []string{"FORWARD", "DOCKER-USER"} {
		out, err := exec.Command("iptables", "-w", "-S", chain).Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			_, rest, ok := strings.Cut(line, "hoist:"+buildPrefix)
			if ok {
				project, _, _ := strings.Cut(strings.TrimRight(rest, `"`), " ")
				add(buildPrefix+strings.TrimRight(project, `"`), "iptables rule: "+line)
			}
		}
	}
	for project, what := range found {
		if pid == 0 && !buildOver(runDir, project) {
			continue
		}
		if _, err := os.Stat(filepath.Join(runDir, project)); pid == 0 && err != nil {
			continue
		}
		for _, w := range what {
			fmt.Fprintf(&b, "build network %s: %s\n", project, w)
		}
	}
	return b.String()
}

// buildOver reports whether the build that made project's network is
// over: its process is gone, or it no longer holds its owner.lock.
func buildOver(runDir, project string) bool {
	pid, _, _ := strings.Cut(strings.TrimPrefix(project, buildPrefix), ".")
	n, err := strconv.Atoi(pid)
	if err != nil {
		return true
	}
	if err := unix.Kill(n, 0); errors.Is(err, unix.ESRCH) {
		return true
	}
	f, err := os.Open(filepath.Join(runDir, project, "owner.lock"))
	if err != nil {
		return false // not made yet: a build that just started
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

// SeeSources stats every file of the repository at root (but .git and
// bin). go test caches a package's result by the files its tests open or
// stat; the binary is built, and the samples are read, by child
// processes, so without this a change to hoist's code or samples would
// leave an end-to-end package's old result cached, and its tests would
// not run against the change. Call it from a test, not TestMain: go test
// logs the files a test consults only once the tests run.
func SeeSources(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (d.Name() == ".git" || d.Name() == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		_, err = os.Stat(p)
		return err
	})
}
