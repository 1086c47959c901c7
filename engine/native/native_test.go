package native

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/enginetest"
	"github.com/hoist-dev/hoist/engine/enginetest/effective"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/testimage"
)

func TestMain(m *testing.M) {
	if runtime.MaybeInit() {
		return
	}
	os.Exit(m.Run())
}

const testImage = "hoist-test/busybox:latest"

// needRoot skips tests that run containers.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the native engine needs root")
	}
	if err := testimage.Available(); err != nil {
		t.Skip(err)
	}
}

// newBackend returns a backend on temporary dirs with the busybox test
// image imported, and checks at cleanup that nothing is left behind.
func newBackend(t *testing.T) *Backend {
	t.Helper()
	needRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	b, err := New(ctx, Options{Root: filepath.Join(dir, "root"), RunDir: filepath.Join(dir, "run"), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := testimage.WriteRootfs(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store().Import(ctx, &buf, testImage, []string{`CMD ["sh"]`}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ids []string
	b.onCreate = func(id string) { mu.Lock(); ids = append(ids, id); mu.Unlock() }
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		checkNothingLeft(t, b, ids)
	})
	return b
}

// checkNothingLeft fails when a mount under the backend's dirs, a cgroup
// of one of its containers or a process of one remains. It runs after the
// test's own cleanups (registered later, run earlier).
func checkNothingLeft(t *testing.T, b *Backend, ids []string) {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (strings.HasPrefix(fields[4], b.layout.Root+"/") || strings.HasPrefix(fields[4], b.layout.RunDir+"/")) {
			t.Errorf("mount left behind: %s", fields[4])
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(b.layout.Root, "containers", "*"))
	for _, d := range dirs {
		t.Errorf("container dir left behind: %s", d)
	}
	recs, _ := b.layout.All()
	for _, r := range recs {
		t.Errorf("container left behind: %s", r.Name)
	}
	for _, id := range ids {
		if d := runtime.CgroupDirs(id); len(d) > 0 {
			t.Errorf("cgroups left behind: %v", d)
		}
		if pids := processesOf(id); len(pids) > 0 {
			t.Errorf("processes of container %s left behind: %v", id, pids)
		}
	}
}

func TestConformance(t *testing.T) {
	needRoot(t)
	enginetest.Run(t, func(t *testing.T) engine.Backend { return newBackend(t) }, enginetest.Options{
		Image:   testImage,
		Inspect: func(b engine.Backend) effective.Inspector { return inspector{b.(*Backend)} },
	})
}

// processesOf lists the processes whose command line or environment
// names the container ID: its monitor (started with its state dir) and
// anything in its cgroups.
func processesOf(id string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(id)) {
			out = append(out, filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

var _ = time.Second

// Run state is written without syncs; a record that a machine crash cut
// short must get an error that says what to remove, not a bare JSON error.
func TestObserveDamagedRecord(t *testing.T) {
	b := newBackend(t)
	dir := b.layout.StateDir("torn", store.NewID())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, store.ConfigFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := b.Observe(context.Background(), "torn", nil)
	if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), "remove "+dir) {
		t.Fatalf("Observe = %v, want a damaged-record error naming %s", err, dir)
	}
}
