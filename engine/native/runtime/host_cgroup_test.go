package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/runtime/cgroup"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestCgroupLimitsAndCleanup(t *testing.T) {
	needRoot(t)
	if cgroup.IsV2() {
		t.Skip("layout checked here is cgroup v1")
	}
	var stdout syncBuffer
	spec := Spec{
		ID: testID(t), Rootfs: newRootfs(t), Stdout: &stdout,
		Resources: Resources{MemoryBytes: 64 << 20, MemorySwapBytes: 96 << 20, NanoCPUs: 5e8, PidsLimit: 64},
		Args:      []string{"sh", "-c", "sleep 1000 & echo ready; wait"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	cg, err := cgroup.Of(spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	dirs := cg.Dirs()
	waitFor(t, "container output", func() bool { return strings.Contains(stdout.String(), "ready") })
	read := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join(dirs[ctrl], file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	own, _ := cgroup.Own()
	if !strings.Contains(dirs["memory"], filepath.Join(own["memory"], "hoist", spec.ID)) {
		t.Errorf("memory cgroup %s is not nested under hoist's own %s", dirs["memory"], own["memory"])
	}
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "67108864"},
		{"memory", "memory.memsw.limit_in_bytes", "100663296"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"pids", "pids.max", "64"},
	} {
		if _, err := os.Stat(filepath.Join(dirs[c.ctrl], c.file)); c.file == "memory.memsw.limit_in_bytes" && err != nil {
			t.Logf("%s: %v (no swap accounting: not applied, as by Docker)", c.file, err)
			continue
		}
		if got := read(c.ctrl, c.file); got != c.want {
			t.Errorf("%s = %s, want %s", c.file, got, c.want)
		}
	}
	pids, _ := cgroup.Pids(dirs["memory"])
	if len(pids) != 2 {
		t.Errorf("cgroup holds %v, want init and sleep", pids)
	}
	// Cleanup of a running container kills everything in it.
	if err := p.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit %d, %v", code, err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind", dir)
		}
	}
	for _, pid := range append(pids, p.Pid()) {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d left behind: %v", pid, err)
		}
	}
}

func TestSpecOptions(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 hoist-test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, Spec{
		Rootfs: rootfs, Hostname: "box", ReadonlyRootfs: true, Hosts: hosts, Cwd: "/tmp/work",
		Env:     []string{"FOO=bar"},
		Ulimits: []Ulimit{{Name: "nofile", Soft: 1000, Hard: 2000}},
		Sysctls: map[string]string{"kernel.shmmni": "2048", "net.ipv4.ip_unprivileged_port_start": "0"},
		Mounts: []Mount{{Type: MountTmpfs, Target: "/tmp/work", TmpfsSize: 1 << 20, TmpfsMode: 0o700},
			{Type: MountTmpfs, Target: "/owned", TmpfsUID: 1000, TmpfsGID: 1001}},
		ShmSize: 8 << 20,
		Args: []string{"sh", "-c", `hostname; pwd; echo $FOO $HOME; ulimit -n; ulimit -Hn
			cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_unprivileged_port_start
			cat /etc/hosts; touch /x 2>/dev/null && echo rootfs-rw; touch /tmp/work/y && echo tmpfs-rw
			stat -c %a /tmp/work; df -k /dev/shm | tail -1 | awk '{print $2}'; stat -c %u:%g /owned`},
	})
	want := "box\n/tmp/work\nbar /root\n1000\n2000\n2048\n0\n127.0.0.1 hoist-test\ntmpfs-rw\n700\n8192\n1000:1001\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d output %q want %q stderr %q", code, out, want, errOut)
	}
}

// With the host's network the container is in hoist's network namespace
// (compared by namespace identity: the host's interfaces come and go
// while other tests run).
func TestHostNetwork(t *testing.T) {
	needRoot(t)
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, Spec{Rootfs: newRootfs(t), Network: Network{Mode: NetworkHost}, Args: []string{"readlink", "/proc/self/ns/net"}})
	if code != 0 || strings.TrimSpace(out) != host {
		t.Fatalf("exit %d, container's network namespace %q, hoist's %q", code, out, host)
	}
	code, out, _ = run(t, Spec{Rootfs: newRootfs(t), Args: []string{"readlink", "/proc/self/ns/net"}})
	if code != 0 || strings.TrimSpace(out) == host || !strings.HasPrefix(out, "net:[") {
		t.Fatalf("exit %d: a container of its own network shows %q (hoist's is %q)", code, out, host)
	}
}
