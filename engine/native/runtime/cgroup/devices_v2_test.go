package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/devicerule"
	"github.com/hoist-dev/hoist/internal/testimage"
)

// needRoot skips tests that need root (and, as the runtime's tests, the
// test image's busybox).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containers need root")
	}
	if err := testimage.Available(); err != nil {
		t.Skip(err)
	}
}

// addProbe builds the runtime's test probe (../testdata/probe) statically
// into dir/probe.
func addProbe(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "probe"), "../testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v: %s", err, out)
	}
}

// loopDevice attaches a loop device to a file holding secret and returns
// the device's path, its major and minor, and the backing file.
func loopDevice(t *testing.T, secret string) (dev string, major, minor uint32, backing string) {
	t.Helper()
	backing = filepath.Join(t.TempDir(), "disk.img")
	data := make([]byte, 64<<10)
	copy(data, secret)
	if err := os.WriteFile(backing, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	return dev, unix.Major(st.Rdev), unix.Minor(st.Rdev), backing
}

func wantLines(t *testing.T, what, got string, want ...string) {
	t.Helper()
	if g := strings.TrimSpace(got); g != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %s\nwant: %s", what, strings.ReplaceAll(g, "\n", " | "), strings.Join(want, " | "))
	}
}

// cgroup2Mount returns where a cgroup2 hierarchy is mounted ("" if none):
// /sys/fs/cgroup on a v2 host, /sys/fs/cgroup/unified beside v1 here.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if pf := strings.Fields(pre); ok && len(pf) > 4 && strings.HasPrefix(post, "cgroup2 ") {
			return pf[4]
		}
	}
	return ""
}

// TestDeviceFilterV2 runs the cgroup v2 device program in this kernel.
// On a v1 host the unified hierarchy beside v1 has no controllers, but a
// device program attached there applies all the same (the kernel asks
// both), so the program is checked here for real: a process in a v2
// cgroup with the default rules opens /dev/null and is refused a block
// device node and /dev/mem.
func TestDeviceFilterV2(t *testing.T) {
	needRoot(t)
	mnt := cgroup2Mount(t)
	if mnt == "" {
		t.Fatal("no cgroup2 hierarchy is mounted (a v1 host here has /sys/fs/cgroup/unified)")
	}
	if err := v2DeviceFilterAvailable(); err != nil {
		t.Fatalf("device program: %v", err)
	}
	const secret = "v2-device-secret"
	dev, _, _, _ := loopDevice(t, secret)
	probeDir := t.TempDir()
	probe := filepath.Join(probeDir, "probe")
	addProbe(t, probeDir)
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(probeDir, "blk")
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(st.Rdev)); err != nil {
		t.Fatal(err)
	}
	try := func(t *testing.T, rules []devicerule.Rule, args ...string) string {
		t.Helper()
		dir := filepath.Join(mnt, fmt.Sprintf("hoist-devtest-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("remove %s: %v", dir, err)
			}
		}()
		if err := attachDeviceFilter(dir, rules); err != nil {
			t.Fatal(err)
		}
		cg, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer cg.Close()
		cmd := exec.Command(probe, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("probe %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	defaults := devicerule.Defaults()
	wantLines(t, "/dev/null", try(t, defaults, "write", "/dev/null", "x"), "open: ok", "write: ok")
	wantLines(t, "/dev/zero", try(t, defaults, "read", "/dev/zero", "1"), "open: ok", `read: ok "\x00"`)
	wantLines(t, "block device", try(t, defaults, "read", node, "16"), "open: EPERM")
	wantLines(t, "mknod /dev/mem", try(t, defaults, "mknod", filepath.Join(probeDir, "mem"), "c", "1", "1"), "mknod: ok")
	wantLines(t, "/dev/mem", try(t, defaults, "read", filepath.Join(probeDir, "mem"), "1"), "open: EPERM")
	readOnly := append(defaults, devicerule.Rule{Type: 'b', Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)), Access: "r"})
	wantLines(t, "block device, allowed r", try(t, readOnly, "read", node, "16"), "open: ok", fmt.Sprintf("read: ok %q", secret))
	wantLines(t, "block device, allowed r, written", try(t, readOnly, "write", node, "x"), "open: EPERM")
	wantLines(t, "privileged", try(t, []devicerule.Rule{devicerule.All()}, "read", node, "16"), "open: ok", fmt.Sprintf("read: ok %q", secret))
}
