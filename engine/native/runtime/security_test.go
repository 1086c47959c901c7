package runtime

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// addProbe builds testdata/probe statically into rootfs/probe.
func addProbe(t *testing.T, rootfs string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", filepath.Join(rootfs, "probe"), "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v: %s", err, out)
	}
}

// field returns the value of "key:" in /proc/<pid>/status-like text.
func field(t *testing.T, text, key string) string {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in %q", key, text)
	return ""
}

const dockerDefaultCaps = "00000000a80425fb"

func TestDefaultContainerSecurity(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	addProbe(t, rootfs)

	t.Run("capabilities and seccomp", func(t *testing.T) {
		code, out, errOut := sh(t, rootfs, "cat /proc/self/status")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for key, want := range map[string]string{
			"CapEff": dockerDefaultCaps, "CapPrm": dockerDefaultCaps, "CapBnd": dockerDefaultCaps,
			"CapInh": "0000000000000000", "CapAmb": "0000000000000000", "Seccomp": "2",
			"NoNewPrivs": "0",
		} {
			if got := field(t, out, key); got != want {
				t.Errorf("%s = %s, want %s", key, got, want)
			}
		}
	})
	t.Run("privileged operations fail", func(t *testing.T) {
		code, out, _ := sh(t, rootfs, `
			mount -t tmpfs x /mnt 2>/dev/null && echo mount-ok
			unshare -m true 2>/dev/null && echo unshare-ok
			/probe keyctl`)
		if code != 0 || strings.Contains(out, "-ok") {
			t.Fatalf("exit %d, output %q", code, out)
		}
		if !strings.Contains(out, "add_key: operation not permitted") || !strings.Contains(out, "keyctl: operation not permitted") {
			t.Fatalf("keyring calls not blocked: %q", out)
		}
	})
	t.Run("seccomp argument rules", func(t *testing.T) {
		// Docker allows personality for five values (setarch linux32
		// needs 8), and socket for the known domains but AF_VSOCK (40),
		// compared as 64-bit values. A high word in an argument must not
		// change the verdict of a later rule (it did with go-seccomp-bpf:
		// socket(40 | 56<<32) passed, and personality(8) did not).
		code, out, errOut := sh(t, rootfs, "/probe personality 0 8 131072 131080 4294967295 1 4294967296 240518168576; /probe socket 40 240518168616 1 1099511627777")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		wantLines(t, "seccomp", out,
			"personality 0: ok", "personality 8: ok", "personality 131072: ok", "personality 131080: ok", "personality 4294967295: ok",
			"personality 1: EPERM", "personality 4294967296: EPERM", "personality 240518168576: EPERM",
			"socket 40: EPERM", "socket 240518168616: EPERM", "socket 1: ok", "socket 1099511627777: EPERM")
	})
	t.Run("masked and read-only paths", func(t *testing.T) {
		// This kernel may lack some paths (kcore, sysrq-trigger); the
		// expectation follows the host, which has the same kernel.
		var script, want strings.Builder
		for _, p := range DefaultMaskedPaths() {
			script.WriteString("p=" + p + `; if [ -d $p ]; then echo "$p $(ls -A $p | wc -l)"; elif [ -e $p ]; then echo "$p $(wc -c < $p)"; else echo "$p absent"; fi` + "\n")
			if _, err := os.Stat(p); err != nil {
				want.WriteString(p + " absent\n")
			} else {
				want.WriteString(p + " 0\n")
			}
		}
		script.WriteString(`echo h > /proc/sysrq-trigger 2>/dev/null && echo sysrq-ok
			echo 1 > /proc/sys/kernel/core_uses_pid 2>/dev/null && echo procsys-ok
			touch /sys/kernel/x 2>/dev/null && echo sys-ok
			for p in /sys /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do
				[ -e $p ] || { echo "$p ro"; continue; }
				echo "$p $(awk -v p=$p '$2==p {print $4}' /proc/mounts | tail -1 | cut -d, -f1)"
			done`)
		for _, p := range []string{"/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"} {
			want.WriteString(p + " ro\n")
		}
		code, out, errOut := sh(t, rootfs, script.String())
		if code != 0 || out != want.String() {
			t.Fatalf("exit %d output\n%s\nwant\n%s\nstderr %s", code, out, want.String(), errOut)
		}
	})
	t.Run("pid namespace", func(t *testing.T) {
		code, out, _ := sh(t, rootfs, `tr '\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -E '^[0-9]+$' | tr '\n' ' '`)
		lines := strings.Split(out, "\n")
		if code != 0 || len(lines) < 2 {
			t.Fatalf("exit %d output %q", code, out)
		}
		if !strings.HasPrefix(lines[0], "sh -c ") {
			t.Errorf("pid 1 is %q, want the command", lines[0])
		}
		// Only pid 1 (sh), its subshells and ls can exist.
		if n := len(strings.Fields(lines[1])); n > 4 {
			t.Errorf("container sees %d processes: %s", n, lines[1])
		}
	})
	t.Run("no leaked fds", func(t *testing.T) {
		code, out, _ := sh(t, rootfs, "ls /proc/self/fd | tr '\n' ' '")
		// 0-2 and the directory ls is reading.
		if code != 0 || out != "0 1 2 3 " {
			t.Fatalf("exit %d fds %q", code, out)
		}
	})
	t.Run("writes stay in the rootfs", func(t *testing.T) {
		name := "hoist-write-test-" + testID(t)
		code, _, _ := sh(t, rootfs, "echo x > /"+name)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		if _, err := os.Stat(filepath.Join(rootfs, name)); err != nil {
			t.Errorf("write not in rootfs: %v", err)
		}
		if _, err := os.Stat("/" + name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("write reached the host: %v", err)
		}
	})
	t.Run("network namespace has only lo, up", func(t *testing.T) {
		code, out, _ := sh(t, rootfs, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/flags")
		if code != 0 || out != "lo\n0x9\n" {
			t.Fatalf("exit %d output %q", code, out)
		}
	})
	t.Run("devices", func(t *testing.T) {
		code, out, errOut := sh(t, rootfs, "ls /dev | tr '\n' ' '; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; grep -E ' /dev/(shm|pts|mqueue) ' /proc/mounts | cut -d' ' -f3 | tr '\n' ' '")
		want := "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero 4\nnull-ok\ndevpts tmpfs mqueue "
		if code != 0 || out != want {
			t.Fatalf("exit %d output %q want %q stderr %q", code, out, want, errOut)
		}
	})
}

func TestNonRootUser(t *testing.T) {
	needRoot(t)
	code, out, errOut := run(t, Spec{Rootfs: newRootfs(t), User: "nobody", Args: []string{"sh", "-c", "id -u; id -g; cat /proc/self/status"}})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "65534\n65534\n") {
		t.Fatalf("ids %q", out)
	}
	if got := field(t, out, "CapEff"); got != "0000000000000000" {
		t.Errorf("CapEff %s", got)
	}
	if got := field(t, out, "CapPrm"); got != "0000000000000000" {
		t.Errorf("CapPrm %s", got)
	}
	if got := field(t, out, "CapBnd"); got != dockerDefaultCaps {
		t.Errorf("CapBnd %s", got)
	}
}

func TestCapAddDropPrivileged(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	capEff := func(sec Security) string {
		code, out, errOut := run(t, Spec{Rootfs: rootfs, Security: sec, Args: []string{"cat", "/proc/self/status"}})
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		return field(t, out, "CapEff") + " seccomp " + field(t, out, "Seccomp") + " nnp " + field(t, out, "NoNewPrivs")
	}
	// +NET_ADMIN (bit 12) -CHOWN (bit 0)
	if got := capEff(Security{CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"chown"}}); got != "00000000a80435fa seccomp 2 nnp 0" {
		t.Errorf("add/drop: %s", got)
	}
	if got := capEff(Security{CapDrop: []string{"ALL"}, CapAdd: []string{"CAP_KILL"}, NoNewPrivileges: true}); got != "0000000000000020 seccomp 2 nnp 1" {
		t.Errorf("drop all: %s", got)
	}
	if got := capEff(Security{Privileged: true}); !strings.HasSuffix(got, " seccomp 0 nnp 0") || strings.HasPrefix(got, "00000000a8") {
		t.Errorf("privileged: %s", got)
	}
}

func TestMountTargetSymlinkStaysInRootfs(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	if err := os.Symlink("/", filepath.Join(rootfs, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../..", filepath.Join(rootfs, "tmp", "evil2")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "marker"), []byte("inside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := "hoist-escape-" + testID(t)
	code, out, errOut := run(t, Spec{
		Rootfs: rootfs,
		Mounts: []Mount{
			{Type: MountBind, Source: src, Target: "/evil/" + name, ReadOnly: true},
			{Type: MountTmpfs, Target: "/tmp/evil2/" + name + "-tmpfs"},
		},
		Args: []string{"sh", "-c", "cat /" + name + "/marker; echo x > /" + name + "/w 2>/dev/null && echo rw; ls -d /" + name + "-tmpfs"},
	})
	if code != 0 || out != "inside\n/"+name+"-tmpfs\n" {
		t.Fatalf("exit %d output %q stderr %q", code, out, errOut)
	}
	for _, p := range []string{"/" + name, "/" + name + "-tmpfs"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("mount target escaped to the host: %s: %v", p, err)
		}
		if _, err := os.Stat(filepath.Join(rootfs, p)); err != nil {
			t.Errorf("mount target not created in rootfs: %v", err)
		}
	}
}

func TestInitReapsForwardsAndHidesBinary(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	addProbe(t, rootfs)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sum := func() [32]byte {
		b, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()
	code, out, errOut := run(t, Spec{Rootfs: rootfs, Init: true, Args: []string{"sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; readlink /proc/1/exe || echo no-readlink; /probe write-exe /proc/1/exe"}})
	if code != 0 {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, roleInit+" \n") {
		t.Errorf("pid 1 is not hoist's init: %q", out)
	}
	if !strings.Contains(out, "no-readlink") || strings.Contains(out, ": ok") {
		t.Errorf("hoist's binary is reachable through /proc/1/exe: %q", out)
	}
	if sum() != before {
		t.Fatal("hoist binary changed")
	}

	// Signals reach the command through the init.
	var stdout syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, Spec{ID: testID(t) + "-sig", Rootfs: rootfs, Init: true, Stdout: &stdout,
		Args: []string{"sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Cleanup()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stdout.String(), "ready"); {
		if time.Now().After(deadline) {
			t.Fatal("container never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 7 {
		t.Fatalf("exit %d, %v; want 7", code, err)
	}
}

// With Init the command is forked by pid 1 rather than executed in its
// place: it must start exactly as confined (ids, capabilities, bounding
// set, no_new_privs, seccomp), and pid 1 is no less confined than it.
func TestInitCommandIsConfined(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	for _, tc := range []struct {
		name string
		user string
		nnp  bool
		want map[string]string
	}{
		{"root", "", false, map[string]string{"CapEff": dockerDefaultCaps, "CapPrm": dockerDefaultCaps, "CapBnd": dockerDefaultCaps, "Seccomp": "2", "NoNewPrivs": "0", "Uid": "0\t0\t0\t0"}},
		{"root no_new_privs", "", true, map[string]string{"CapEff": dockerDefaultCaps, "CapBnd": dockerDefaultCaps, "Seccomp": "2", "NoNewPrivs": "1"}},
		{"nobody", "nobody", false, map[string]string{"CapEff": "0000000000000000", "CapPrm": "0000000000000000", "CapBnd": dockerDefaultCaps, "Seccomp": "2", "Uid": "65534\t65534\t65534\t65534", "Gid": "65534\t65534\t65534\t65534"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{Rootfs: rootfs, Init: true, User: tc.user, Args: []string{"sh", "-c", "cat /proc/self/status; echo =====; cat /proc/1/status"}}
			spec.Security.NoNewPrivileges = tc.nnp
			code, out, errOut := run(t, spec)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			self, pid1, ok := strings.Cut(out, "=====\n")
			if !ok {
				t.Fatalf("output %q", out)
			}
			for key, want := range tc.want {
				if got := field(t, self, key); got != want {
					t.Errorf("command %s = %q, want %q", key, got, want)
				}
			}
			// pid 1's status is readable only when it shares the
			// command's credentials; then it must be as confined.
			if strings.Contains(pid1, "Seccomp:") && field(t, pid1, "Seccomp") != "2" {
				t.Errorf("pid 1 runs without seccomp: %q", pid1)
			}
		})
	}
}

// A tmpfs is noexec, nosuid and nodev, as Docker mounts every tmpfs,
// unless it asks for exec.
func TestTmpfsIsNoexec(t *testing.T) {
	needRoot(t)
	out := probeLines(t, Spec{Rootfs: newRootfs(t), Mounts: []Mount{
		{Type: MountTmpfs, Target: "/t1"}, {Type: MountTmpfs, Target: "/t2", TmpfsExec: true},
	}}, "for d in /t1 /t2; do cp /bin/busybox $d/true; $d/true 2>/dev/null && echo $d exec || echo $d noexec; grep \" $d \" /proc/mounts | cut -d' ' -f4 | tr , '\\n' | grep -E '^(noexec|nosuid|nodev)$' | tr '\\n' ' '; echo; done")
	wantLines(t, "tmpfs", out, "/t1 noexec", "nosuid nodev noexec ", "/t2 exec", "nosuid nodev")
}

// A subpath of a volume is resolved inside the volume when the container
// starts: a symlink that a container planted there never leads to the
// host (it resolves as if the volume were "/").
func TestMountSubpathStaysInVolume(t *testing.T) {
	needRoot(t)
	vol, host := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(vol, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(vol, "sub", "f"), []byte("in-volume\n"), 0o644)
	os.WriteFile(filepath.Join(host, "f"), []byte("HOST\n"), 0o644)
	if err := os.Symlink(host, filepath.Join(vol, "evil")); err != nil {
		t.Fatal(err)
	}
	rootfs := newRootfs(t)
	out := probeLines(t, Spec{Rootfs: rootfs, Mounts: []Mount{{Type: MountVolume, Source: vol, Subpath: "/sub", Target: "/x"}}}, "cat /x/f")
	wantLines(t, "subpath sub", out, "in-volume")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, Spec{ID: testID(t), Rootfs: rootfs, Mounts: []Mount{{Type: MountVolume, Source: vol, Subpath: "evil", Target: "/x"}}, Args: []string{"cat", "/x/f"}})
	if err == nil {
		_, _ = p.Wait()
		_ = p.Cleanup()
		t.Fatal("a subpath through a symlink out of the volume was mounted")
	}
}
