package native

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
)

func oneOff(project, cmd string) *testService {
	spec := testSpec(project, "box", "sh", "-c", cmd)
	spec.Name = project + "-box-run-1"
	spec.OneOff = true
	spec.Service.NetworkMode = "none"
	return spec
}

// waitRunning polls Observe until the project's one container runs.
func waitRunning(t *testing.T, b *Backend, project string, done <-chan struct{}) engine.Container {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := b.Observe(context.Background(), project, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Containers) == 1 && st.Containers[0].State == engine.StateRunning {
			return st.Containers[0]
		}
		select {
		case <-done:
			t.Fatal("the run ended before its container was seen running")
		default:
		}
	}
	t.Fatal("the container was never seen running")
	return engine.Container{}
}

func TestRunRemoveStreamsOutput(t *testing.T) {
	b := newBackend(t)
	var out, errOut bytes.Buffer
	code, err := b.RunContainer(testCtx(t), oneOff("runrm", "echo out; echo err >&2; exit 3").resolved(), engine.RunAttach{Stdout: &out, Stderr: &errOut, Remove: true})
	if err != nil || code != 3 {
		t.Fatalf("code %d err %v", code, err)
	}
	if out.String() != "out\n" || errOut.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
	if _, err := os.Stat(b.layout.NamePath("runrm-box-run-1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("name still reserved: %v", err)
	}
	// newBackend's cleanup checks that no mount, cgroup, process or record is left.
}

func TestRunStdin(t *testing.T) {
	b := newBackend(t)
	var out bytes.Buffer
	code, err := b.RunContainer(testCtx(t), oneOff("runin", "tr a-z A-Z").resolved(), engine.RunAttach{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: io.Discard, Remove: true})
	if err != nil || code != 0 || out.String() != "HELLO\n" {
		t.Fatalf("code %d err %v stdout %q", code, err, out.String())
	}
}

func TestRunKeepsContainerWithoutRemove(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	code, err := b.RunContainer(ctx, oneOff("runkeep", "echo kept > /f; exit 2").resolved(), engine.RunAttach{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil || code != 2 {
		t.Fatalf("code %d err %v", code, err)
	}
	st, err := b.Observe(ctx, "runkeep", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Containers) != 1 || st.Containers[0].State != engine.StateExited || st.Containers[0].ExitCode != 2 || !st.Containers[0].OneOff {
		t.Fatalf("containers %+v", st.Containers)
	}
	id := st.Containers[0].ID
	if mounted(t, filepath.Join(b.layout.LayerDir(id), "rootfs")) {
		t.Error("rootfs still mounted after the run")
	}
	if _, err := os.Stat(filepath.Join(b.layout.LayerDir(id), "upper", "f")); err != nil {
		t.Errorf("writable layer lost: %v", err)
	}
	if err := b.RemoveContainer(ctx, id, engine.RemoveOptions{Force: true, Volumes: true}); err != nil {
		t.Fatal(err)
	}
}

// Cancelling ctx (Ctrl-C) kills the container and still removes it.
func TestRunCancelKillsAndRemoves(t *testing.T) {
	b := newBackend(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, err := b.RunContainer(ctx, oneOff("runcancel", "sleep 1000").resolved(), engine.RunAttach{Stdout: io.Discard, Stderr: io.Discard, Remove: true})
		res <- result{code, err}
	}()
	c := waitRunning(t, b, "runcancel", done)
	if !c.OneOff || c.Name != "runcancel-box-run-1" {
		t.Errorf("observed %+v", c)
	}
	cancel()
	r := <-res
	if !errors.Is(r.err, context.Canceled) || r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("code %d err %v", r.code, r.err)
	}
}

// A run whose process is killed leaves a record that down (RemoveContainer
// with Force) cleans: the container, its mount, cgroup and name.
func TestRunCallerKilledThenRemoved(t *testing.T) {
	if os.Getenv("HOIST_TEST_RUN_CALLER") != "" {
		t.Skip("helper")
	}
	b := newBackend(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunCallerHelper$")
	cmd.Env = append(os.Environ(), "HOIST_TEST_RUN_CALLER="+b.layout.Root+":"+b.layout.RunDir)
	var helperOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &helperOut, &helperOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c := waitRunning(t, b, "runkilled", done)
	_ = cmd.Process.Kill()
	<-done
	st, err := b.Observe(context.Background(), "runkilled", nil)
	if err != nil || len(st.Containers) != 1 {
		t.Fatalf("after the caller died: %+v %v (helper: %s)", st, err, helperOut.String())
	}
	if err := b.RemoveContainer(testCtx(t), c.ID, engine.RemoveOptions{Force: true, Volumes: true}); err != nil {
		t.Fatal(err)
	}
	b.onCreate(c.ID) // the helper created it: check its cgroups and processes too
}

// TestRunCallerHelper is the process TestRunCallerKilledThenRemoved kills.
func TestRunCallerHelper(t *testing.T) {
	dirs := os.Getenv("HOIST_TEST_RUN_CALLER")
	if dirs == "" {
		t.Skip("only run by TestRunCallerKilledThenRemoved")
	}
	root, runDir, _ := strings.Cut(dirs, ":")
	b, err := New(context.Background(), Options{Root: root, RunDir: runDir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.RunContainer(context.Background(), oneOff("runkilled", "sleep 1000").resolved(), engine.RunAttach{Stdout: io.Discard, Stderr: io.Discard, Remove: true})
	t.Fatalf("the run returned: %v", err)
}

// A one-off container's rootfs is mounted by its init inside its own mount
// namespace: the host never has it, so nothing can be left mounted.
func TestRunMountsRootfsInsideOnly(t *testing.T) {
	b := newBackend(t)
	var out bytes.Buffer
	var id string
	b.onCreate = func(cid string) { id = cid }
	code, err := b.RunContainer(testCtx(t), oneOff("runmnt", "echo x > /w; cat /w; grep -c ' / ' /proc/self/mountinfo >/dev/null; ls /proc/1/root/bin/sh").resolved(),
		engine.RunAttach{Stdout: &out, Stderr: &out, Remove: false})
	if err != nil || code != 0 || out.String() != "x\n/proc/1/root/bin/sh\n" {
		t.Fatalf("code %d err %v output %q", code, err, out.String())
	}
	rootfs := filepath.Join(b.layout.LayerDir(id), "rootfs")
	if info, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(info), rootfs) {
		t.Errorf("%s is mounted on the host", rootfs)
	}
	if b, err := os.ReadFile(filepath.Join(b.layout.LayerDir(id), "upper", "w")); err != nil || string(b) != "x\n" {
		t.Errorf("the write is not in the kept writable layer: %q, %v", b, err)
	}
	if err := b.RemoveContainer(testCtx(t), id, engine.RemoveOptions{Force: true, Volumes: true}); err != nil {
		t.Fatal(err)
	}
}

// A run whose named volume is empty fills it from the image first (the
// rootfs is then mounted on the host for the copy, as start does).
func TestRunFillsEmptyVolume(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	vol := engine.VolumeSpec{Name: "runvol_data", Project: "runvol", Key: "data"}
	if err := b.CreateVolume(ctx, vol); err != nil {
		t.Fatal(err)
	}
	spec := oneOff("runvol", "test -f /etc/passwd && echo copied")
	spec.Service.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: vol.Name, Target: "/etc"}}
	var out bytes.Buffer
	code, err := b.RunContainer(ctx, spec.resolved(), engine.RunAttach{Stdout: &out, Stderr: &out, Remove: true})
	if err != nil || code != 0 || out.String() != "copied\n" {
		t.Fatalf("code %d err %v output %q", code, err, out.String())
	}
	if _, err := os.Stat(filepath.Join(b.vols.Dir(vol.Name), "_data", "passwd")); err != nil {
		t.Errorf("volume not filled: %v", err)
	}
	if err := b.RemoveVolume(ctx, vol.Name); err != nil {
		t.Fatal(err)
	}
}

// The rootfs the init mounts itself takes the service's mounts and
// read_only as the host-mounted one does: a read-only root, a tmpfs and a
// bind mount over it, and /etc/hosts from the container's layer.
func TestRunInitMountedRootfsOptions(t *testing.T) {
	b := newBackend(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "in"), []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := oneOff("runopts", "cat /src/in; touch /ro 2>/dev/null || echo read-only; echo t > /scratch/t && cat /scratch/t; grep -c runopts /etc/hostname >/dev/null || hostname")
	spec.Service.ReadOnly = true
	spec.Service.Tmpfs = []string{"/scratch"}
	spec.Service.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: src, Target: "/src", ReadOnly: true}}
	var out bytes.Buffer
	code, err := b.RunContainer(testCtx(t), spec.resolved(), engine.RunAttach{Stdout: &out, Stderr: &out, Remove: true})
	if err != nil || code != 0 || !strings.HasPrefix(out.String(), "bound\nread-only\nt\n") {
		t.Fatalf("code %d err %v output %q", code, err, out.String())
	}
}
