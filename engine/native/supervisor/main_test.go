package supervisor

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/logfile"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/testimage"
)

func TestMain(m *testing.M) {
	if runtime.MaybeInit() {
		return
	}
	code := m.Run()
	if rootfsDir != "" {
		os.RemoveAll(rootfsDir)
	}
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containers need root")
	}
	if err := testimage.Available(); err != nil {
		t.Skip(err)
	}
}

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// sharedRootfs unpacks the busybox test image once per test binary; the
// containers only read it (they write to tmpfs or nothing).
func sharedRootfs(t *testing.T) string {
	t.Helper()
	rootfsOnce.Do(func() {
		rootfsDir, rootfsErr = os.MkdirTemp("", "hoist-supervisor-rootfs")
		if rootfsErr != nil {
			return
		}
		var buf bytes.Buffer
		if rootfsErr = testimage.WriteRootfs(&buf); rootfsErr != nil {
			return
		}
		cmd := exec.Command("tar", "-x", "-C", rootfsDir)
		cmd.Stdin = &buf
		if out, err := cmd.CombinedOutput(); err != nil {
			rootfsErr = &exec.Error{Name: "tar", Err: err}
			_ = out
		}
	})
	if rootfsErr != nil {
		t.Fatal(rootfsErr)
	}
	return rootfsDir
}

func testID(t *testing.T, suffix string) string {
	id := []byte("sup-" + t.Name() + suffix)
	for i, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			id[i] = '-'
		}
	}
	return string(id)
}

// fixture is a project dir with its supervisor, torn down at the end.
type fixture struct {
	t      *testing.T
	dir    string // supervisor dir
	states string // parent of the containers' state dirs
	c      *Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	needRoot(t)
	base := t.TempDir()
	f := &fixture{t: t, dir: filepath.Join(base, "sup"), states: filepath.Join(base, "containers")}
	t.Cleanup(func() {
		if err := Teardown(f.dir); err != nil {
			t.Errorf("teardown: %v", err)
		}
		f.checkClean()
	})
	f.c = f.ensure()
	return f
}

func (f *fixture) ensure() *Client {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Ensure(ctx, "test", f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// checkClean asserts that no process of the project and no cgroup of its
// containers is left.
func (f *fixture) checkClean() {
	f.t.Helper()
	var info Info
	if store.ReadJSON(filepath.Join(f.dir, InfoFile), &info) == nil && alive(info.Pid, info.StartTime) {
		f.t.Errorf("supervisor %d still runs", info.Pid)
	}
	states, _ := filepath.Glob(filepath.Join(f.states, "*"))
	for _, d := range states {
		st, err := runtime.ReadState(d)
		if err == nil && st.Status == runtime.StatusRunning {
			f.t.Errorf("container %s still runs", d)
		}
		id := filepath.Base(d)
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/hoist/" + id)
		cgs2, _ := filepath.Glob("/sys/fs/cgroup/*/*/hoist/" + id)
		if len(cgs)+len(cgs2) > 0 {
			f.t.Errorf("cgroups left: %v", append(cgs, cgs2...))
		}
	}
}

func (f *fixture) config(id string, args ...string) ContainerConfig {
	return ContainerConfig{
		ID:       id,
		StateDir: filepath.Join(f.states, id),
		Spec:     runtime.Spec{Rootfs: sharedRootfs(f.t), Args: args},
	}
}

func (f *fixture) subscribe() <-chan Event {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	ch, err := f.c.Subscribe(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return ch
}

func (f *fixture) run(cfg ContainerConfig) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.c.Run(ctx, cfg); err != nil {
		f.t.Fatal(err)
	}
}

// waitFor returns the first event of id matching typ within 30 s,
// failing on events listed in bad.
func waitFor(t *testing.T, ch <-chan Event, id string, typ EventType, bad ...EventType) Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("event stream ended waiting for %s", typ)
			}
			if e.ID != id {
				continue
			}
			if e.Type == typ {
				return e
			}
			for _, b := range bad {
				if e.Type == b {
					t.Fatalf("event %+v while waiting for %s", e, typ)
				}
			}
		case <-timeout:
			t.Fatalf("no %s event for %s within 30 s", typ, id)
		}
	}
}

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRunExit(t *testing.T) {
	f := newFixture(t)
	if fi, err := os.Stat(filepath.Join(f.dir, SocketFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v", fi, err)
	}
	ev := f.subscribe()
	id := testID(t, "")
	f.run(f.config(id, "sh", "-c", "echo hello; echo oops >&2; exit 3"))
	e := waitFor(t, ev, id, EventStarted)
	if e.Pid <= 0 {
		t.Fatalf("started %+v", e)
	}
	if e = waitFor(t, ev, id, EventExited); e.ExitCode != 3 {
		t.Fatalf("exited %+v", e)
	}
	st, err := runtime.ReadState(filepath.Join(f.states, id))
	if err != nil || st.Status != runtime.StatusExited || st.ExitCode != 3 {
		t.Fatalf("state.json %+v %v", st, err)
	}
	b, err := os.ReadFile(filepath.Join(f.states, id, logfile.File))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var streams []string
	for _, l := range lines {
		ts, rest, _ := strings.Cut(l, " ")
		if _, err := time.Parse(logfile.TimeFormat, ts); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		streams = append(streams, rest)
	}
	if strings.Join(streams, "|") != "stdout F hello|stderr F oops" && strings.Join(streams, "|") != "stderr F oops|stdout F hello" {
		t.Fatalf("log:\n%s", b)
	}
	cs, err := f.c.State(ctx30(t), id)
	if err != nil || cs.Status != StatusExited || cs.ExitCode != 3 {
		t.Fatalf("State %+v %v", cs, err)
	}
	if _, err := f.c.State(ctx30(t), "nope"); !errorsIsNotFound(err) {
		t.Fatalf("State of unknown: %v", err)
	}
}
