package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/devicerule"
)

func TestPrivilegedDeviceRules(t *testing.T) {
	if r := deviceRules(true, nil, nil, nil); len(r) != 1 || r[0] != devicerule.All() {
		t.Errorf("privileged rules = %v", r)
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

// probeLines runs the probe's commands (one per line, "/probe ..." each)
// in a container of spec and returns the output lines.
func probeLines(t *testing.T, spec Spec, cmds ...string) string {
	t.Helper()
	spec.Args = []string{"sh", "-c", strings.Join(cmds, "\n")}
	code, out, errOut := run(t, spec)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	return out
}

func wantLines(t *testing.T, what, got string, want ...string) {
	t.Helper()
	if g := strings.TrimSpace(got); g != strings.Join(want, "\n") {
		t.Errorf("%s:\n got: %s\nwant: %s", what, strings.ReplaceAll(g, "\n", " | "), strings.Join(want, " | "))
	}
}

// TestDeviceRules is the attack of the security issue: with CAP_MKNOD a
// container makes a node for a host block device (a loop device over a
// file with a secret here; the root disk on a real host) and reads and
// writes it. Docker allows the mknod and refuses the open (EPERM); so
// must hoist, for the container's own processes and for exec.
func TestDeviceRules(t *testing.T) {
	needRoot(t)
	const secret = "hoist-device-secret-0123456789"
	dev, major, minor, backing := loopDevice(t, secret)
	rootfs := newRootfs(t)
	addProbe(t, rootfs)
	blk := fmt.Sprintf("b %d %d", major, minor)
	hostUnchanged := func(t *testing.T) {
		t.Helper()
		b, err := os.ReadFile(backing)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(secret)) || bytes.Contains(b, []byte("PWNED")) {
			t.Errorf("the host file behind %s changed: %q", dev, b[:40])
		}
	}

	t.Run("default", func(t *testing.T) {
		out := probeLines(t, Spec{Rootfs: rootfs},
			"rm -f /tmp/l; /probe mknod /tmp/l "+strings.ReplaceAll(blk, " ", " "),
			"/probe read /tmp/l 30", "/probe write /tmp/l PWNED",
			"/probe mknod /tmp/mem c 1 1", "/probe read /tmp/mem 1",
			"/probe mknod /tmp/uffd c 10 257", "/probe read /tmp/uffd 1",
			"/probe read /dev/zero 2", "/probe write /dev/null x", "/probe read /dev/urandom 0",
		)
		wantLines(t, "default container", out,
			"mknod: ok", "open: EPERM", "open: EPERM",
			"mknod: ok", "open: EPERM",
			"mknod: ok", "open: EPERM",
			"open: ok", `read: ok "\x00\x00"`, "open: ok", "write: ok", "open: ok", `read: ok ""`)
		hostUnchanged(t)
	})
	t.Run("exec", func(t *testing.T) {
		var stdout syncBuffer
		spec := Spec{ID: testID(t), Rootfs: rootfs, Stdout: &stdout, Args: []string{"sh", "-c", "echo up; exec sleep 1000"}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p, err := Start(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Cleanup(); _, _ = p.Wait() }()
		waitFor(t, "container", func() bool { return strings.Contains(stdout.String(), "up") })
		var out bytes.Buffer
		code, err := Exec(ctx, p.Pid(), ExecSpec{Args: []string{"sh", "-c", "rm -f /tmp/l; /probe mknod /tmp/l " + blk + "; /probe read /tmp/l 30"}, Stdout: &out, Stderr: &out})
		if err != nil || code != 0 {
			t.Fatalf("exec: %d %v %s", code, err, out.String())
		}
		wantLines(t, "exec", out.String(), "mknod: ok", "open: EPERM")
		hostUnchanged(t)
	})
	t.Run("devices entry", func(t *testing.T) {
		out := probeLines(t, Spec{Rootfs: rootfs, Devices: []Device{{HostPath: dev, Path: "/dev/xdisk", Access: "r"}}},
			"/probe read /dev/xdisk 30", "/probe write /dev/xdisk PWNED",
			"ls -l /dev/xdisk | cut -c1-10")
		wantLines(t, "devices: "+dev+":/dev/xdisk:r", out,
			"open: ok", fmt.Sprintf("read: ok %q", secret), "open: EPERM", "brw-------")
		hostUnchanged(t)
	})
	t.Run("device_cgroup_rules", func(t *testing.T) {
		out := probeLines(t, Spec{Rootfs: rootfs, DeviceRules: []DeviceRule{{Type: 'b', Major: int64(major), Minor: AnyDevice, Access: "r"}}},
			"rm -f /tmp/l; /probe mknod /tmp/l "+blk, "/probe read /tmp/l 30", "/probe write /tmp/l PWNED")
		wantLines(t, "device_cgroup_rules: b N:* r", out, "mknod: ok", "open: ok", fmt.Sprintf("read: ok %q", secret), "open: EPERM")
		hostUnchanged(t)
	})
	t.Run("privileged", func(t *testing.T) {
		out := probeLines(t, Spec{Rootfs: rootfs, Security: Security{Privileged: true}},
			"rm -f /tmp/l; /probe mknod /tmp/l "+blk, "/probe read /tmp/l 30")
		wantLines(t, "privileged", out, "mknod: ok", "open: ok", fmt.Sprintf("read: ok %q", secret))
	})
	t.Run("nodes are the container's own", func(t *testing.T) {
		// A bound host node would be the host's inode: chmod in the
		// container would change the host's /dev/null.
		var before unix.Stat_t
		if err := unix.Stat("/dev/null", &before); err != nil {
			t.Fatal(err)
		}
		out := probeLines(t, Spec{Rootfs: rootfs}, "chmod 600 /dev/null /dev/zero && chown 65534 /dev/null && ls -ln /dev/null | cut -c1-10")
		wantLines(t, "chmod in the container", out, "crw-------")
		var after unix.Stat_t
		if err := unix.Stat("/dev/null", &after); err != nil {
			t.Fatal(err)
		}
		if after.Mode != before.Mode || after.Uid != before.Uid {
			t.Errorf("host /dev/null changed: mode %o uid %d, was %o uid %d", after.Mode, after.Uid, before.Mode, before.Uid)
		}
	})
	t.Run("bad device", func(t *testing.T) {
		for _, d := range []Device{{HostPath: filepath.Join(t.TempDir(), "missing")}, {HostPath: backing}} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			p, err := Start(ctx, Spec{ID: testID(t), Rootfs: rootfs, Devices: []Device{d}, Args: []string{"true"}})
			cancel()
			if err == nil {
				_, _ = p.Wait()
				_ = p.Cleanup()
				t.Errorf("device %s: started", d.HostPath)
			}
		}
	})
}
