package runtime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func hostMounted(t *testing.T, target string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+target+" ")
}

// An init spawned ahead of its Spec mounts the container's overlay itself:
// the container sees the layers and writes to the upper layer, and the host
// never has the mount.
func TestSpawnThenStartWithOverlay(t *testing.T) {
	needRoot(t)
	lower := newRootfs(t)
	base := t.TempDir()
	upper, work, merged := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "rootfs")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	sp, err := Spawn(SpawnOptions{NewNetwork: true, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := sp.Start(ctx, Spec{ID: testID(t), Rootfs: merged, Network: Network{Mode: NetworkNew},
		Overlay: &Overlay{Lowers: []string{lower}, Upper: upper, Work: work, Volatile: true},
		Args:    []string{"sh", "-c", "test -x /bin/sh && echo written > /new && grep -c . /proc/self/mountinfo >/dev/null && echo ok"}})
	if err != nil {
		t.Fatal(err)
	}
	if hostMounted(t, merged) {
		t.Error("the container's overlay is mounted on the host")
	}
	code, err := p.Wait()
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v, stderr %q", code, err, stderr.String())
	}
	if err := p.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "ok\n" {
		t.Fatalf("output %q, stderr %q", stdout.String(), stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(upper, "new")); err != nil || string(b) != "written\n" {
		t.Errorf("upper/new = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(lower, "new")); err == nil {
		t.Error("a write reached the lower layer")
	}
	if hostMounted(t, merged) {
		t.Error("the overlay is mounted on the host after the container")
	}
}

// A Spec that needs an init spawned otherwise (here: its own network
// namespace, where the spawn guessed the host's) gets a new one; the
// guess only costs time.
func TestSpawnMismatchRespawns(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	var stdout bytes.Buffer
	sp, err := Spawn(SpawnOptions{NewNetwork: false, Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	first := sp.cmd.Process.Pid
	p, err := sp.Start(context.Background(), Spec{ID: testID(t), Rootfs: rootfs, Network: Network{Mode: NetworkNew},
		Args: []string{"sh", "-c", "ls /sys/class/net"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid() == first {
		t.Error("the mismatched init was used")
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	_ = p.Cleanup()
	if strings.TrimSpace(stdout.String()) != "lo" {
		t.Errorf("interfaces %q, want only lo (a network namespace of its own)", stdout.String())
	}
	if err := syscall.Kill(first, 0); err == nil {
		t.Errorf("the dropped init %d is still alive", first)
	}
}

// Abort kills and reaps an init that never got its Spec.
func TestSpawnAbort(t *testing.T) {
	needRoot(t)
	sp, err := Spawn(SpawnOptions{NewNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	pid := sp.cmd.Process.Pid
	sp.Abort()
	sp.Abort() // idempotent
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("init %d is still alive after Abort", pid)
	}
	if _, err := sp.Start(context.Background(), Spec{ID: testID(t), Rootfs: "/", Args: []string{"true"}}); err == nil {
		t.Error("an aborted init started a container")
	}
	var nilSpawn *Spawned
	nilSpawn.Abort()
}

// A network namespace bind-mounted after the spawn (as the native engine's
// network attach does, in a directory that does not propagate mounts) is
// joined all the same.
func TestSpawnJoinsNamespaceMountedAfter(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	var stdout, stderr bytes.Buffer
	sp, err := Spawn(SpawnOptions{NewNetwork: false, Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("unshare", "--net", "sleep", "60")
	if err := holder.Start(); err != nil {
		sp.Abort()
		t.Skipf("unshare: %v", err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	nsFile := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(nsFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	nsPath := fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		// (This thread's, not /proc/self's: the thread group leader may
		// sit in a container's namespace, where Exec's tests leave it.)
		a, _ := os.Readlink(nsPath)
		b, _ := os.Readlink("/proc/thread-self/ns/net")
		if a != "" && a != b {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare never entered its namespace")
		}
	}
	if err := unix.Mount(nsPath, nsFile, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(nsFile, unix.MNT_DETACH)
	p, err := sp.Start(context.Background(), Spec{ID: testID(t), Rootfs: rootfs,
		Network: Network{Mode: NetworkJoin, Path: nsFile},
		Args:    []string{"sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("exit %d, %v, stderr %q", code, err, stderr.String())
	}
	_ = p.Cleanup()
	want, _ := os.Readlink(nsPath)
	if strings.TrimSpace(stdout.String()) != want+"\nlo" {
		t.Errorf("interfaces %q, want the joined namespace's lo only", stdout.String())
	}
}
