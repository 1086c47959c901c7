package watch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/fsnotify/fsnotify"
)

// waitLimit bounds every wait on another goroutine. Tests never sleep: they
// block on a signal and only this deadline turns a hang into a failure.
const waitLimit = 10 * time.Second

type call struct {
	op      string // sync, rebuild, restart, exec
	service string
	changes []Change
	cmd     ExecCommand
}

// fakeCtrl records calls. gate[op], when set, blocks that call until the
// channel is closed; hook[op] runs inside the call.
type fakeCtrl struct {
	mu     sync.Mutex
	calls  []call
	signal chan struct{}
	gate   map[string]chan struct{}
	hook   map[string]func()
}

func newFakeCtrl() *fakeCtrl {
	return &fakeCtrl{signal: make(chan struct{}, 1), gate: map[string]chan struct{}{}, hook: map[string]func(){}}
}

// The hook runs before the call is recorded, so a test that saw the call can
// rely on the hook's effects.
func (f *fakeCtrl) record(ctx context.Context, c call) error {
	f.mu.Lock()
	gate, hook := f.gate[c.op], f.hook[c.op]
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	select {
	case f.signal <- struct{}{}:
	default:
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Sync checks that every change carries its rule's target and lies under
// it, then records the changes without the target so tests compare paths.
func (f *fakeCtrl) Sync(ctx context.Context, s string, ch []Change) error {
	op := "sync"
	out := make([]Change, len(ch))
	for i, c := range ch {
		if c.Target == "" || (c.ContainerPath != c.Target && !strings.HasPrefix(c.ContainerPath, strings.TrimSuffix(c.Target, "/")+"/")) {
			op = "sync-with-bad-target"
		}
		c.Target = ""
		out[i] = c
	}
	return f.record(ctx, call{op: op, service: s, changes: out})
}
func (f *fakeCtrl) Rebuild(ctx context.Context, s string) error {
	return f.record(ctx, call{op: "rebuild", service: s})
}
func (f *fakeCtrl) Restart(ctx context.Context, s string) error {
	return f.record(ctx, call{op: "restart", service: s})
}
func (f *fakeCtrl) Exec(ctx context.Context, s string, cmd ExecCommand) error {
	return f.record(ctx, call{op: "exec", service: s, cmd: cmd})
}

func (f *fakeCtrl) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// waitFor blocks until cond holds on the recorded calls.
func (f *fakeCtrl) waitFor(t *testing.T, what string, cond func([]call) bool) []call {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if c := f.snapshot(); cond(c) {
			return c
		}
		select {
		case <-f.signal:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; calls: %+v", what, f.snapshot())
		}
	}
}

func ops(calls []call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.op)
	}
	return out
}

// recorder is a Sink that tests can wait on.
type recorder struct {
	mu     sync.Mutex
	events []Event
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) sink(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) stage(s Stage) []Event {
	var out []Event
	for _, e := range r.all() {
		if e.Stage == s {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) waitFor(t *testing.T, what string, cond func(Event) bool) Event {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		for _, e := range r.all() {
			if cond(e) {
				return e
			}
		}
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type harness struct {
	t     *testing.T
	clock *fakeClock
	ctrl  *fakeCtrl
	rec   *recorder
	w     *watcher
	added []string // directories passed to add, in synthetic mode
	mu    sync.Mutex
}

// newHarness builds a watcher over real directories whose events the test
// feeds itself; add only records the directories it would watch.
func newHarness(t *testing.T, services []Service, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(), ctrl: newFakeCtrl(), rec: newRecorder()}
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{Services: services, Controller: h.ctrl, Clock: h.clock, Sink: h.rec.sink, Options: opts}
	add := func(d string) error {
		h.mu.Lock()
		h.added = append(h.added, d)
		h.mu.Unlock()
		return nil
	}
	w, err := newWatcher(ctx, cfg, add, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	if err := w.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		w.shutdown()
	})
	return h
}

// event feeds a synthetic fsnotify event.
func (h *harness) event(p string, op fsnotify.Op) {
	h.t.Helper()
	if err := h.w.handleEvent(fsnotify.Event{Name: p, Op: op}); err != nil {
		h.t.Fatal(err)
	}
}

// idle waits until every service queue has drained. Only valid when the
// test itself is the only source of new work.
func (h *harness) idle() { h.w.wg.Wait() }

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// put creates p atomically (written elsewhere, renamed into place) so that
// a live watcher sees exactly one event for it.
func put(t *testing.T, stage, p, content string) {
	t.Helper()
	tmp := filepath.Join(stage, filepath.Base(p))
	write(t, tmp, content)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func svc(name string, rules ...types.Trigger) Service {
	return Service{Name: name, Rules: rules}
}

func syncRule(path, target string) types.Trigger {
	return types.Trigger{Path: path, Action: types.WatchActionSync, Target: target}
}

// tempDir returns a fresh directory with symlinks resolved, as inotify
// reports paths.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func changesOf(calls []call) []Change {
	var out []Change
	for _, c := range calls {
		if c.op == "sync" {
			out = append(out, c.changes...)
		}
	}
	return out
}
