package watch

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// These tests run the real Run with real inotify over temp dirs. The clock
// is still fake: the test advances it once the event it waits for has been
// seen, so nothing sleeps.

type live struct {
	clock *fakeClock
	ctrl  *fakeCtrl
	rec   *recorder
	ready Event
}

func startRun(t *testing.T, services []Service, clock Clock) *live {
	t.Helper()
	l := &live{ctrl: newFakeCtrl(), rec: newRecorder()}
	if fc, ok := clock.(*fakeClock); ok {
		l.clock = fc
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Services: services, Controller: l.ctrl, Clock: clock, Sink: l.rec.sink})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancellation, want nil", err)
		}
	})
	l.ready = l.rec.waitFor(t, "ready", func(e Event) bool { return e.Stage == StageReady })
	return l
}

func (l *live) waitSeen(t *testing.T, p string) {
	t.Helper()
	l.rec.waitFor(t, "event for "+p, func(e Event) bool { return e.Stage == StageSeen && e.Path == p })
}

// waitSeenOp waits for an event of op (fsnotify's name, e.g. "REMOVE") on
// p: waitSeen alone would match an earlier event for the same path.
func (l *live) waitSeenOp(t *testing.T, p, op string) {
	t.Helper()
	l.rec.waitFor(t, op+" event for "+p, func(e Event) bool {
		return e.Stage == StageSeen && e.Path == p && strings.Contains(e.Message, op)
	})
}

func hasChange(want Change) func([]call) bool {
	return func(c []call) bool {
		for _, ch := range changesOf(c) {
			if ch == want {
				return true
			}
		}
		return false
	}
}

func TestLiveNewDirectoriesArePickedUp(t *testing.T) {
	dir, stage := tempDir(t), tempDir(t)
	l := startRun(t, []Service{svc("web", syncRule(dir, "/app"))}, newFakeClock())

	// A whole tree appears at once (as with `mv` or `git checkout`): one
	// event for its top, and its contents were there before any watch.
	write(t, filepath.Join(stage, "pkg", "a", "b", "deep.txt"), "d")
	write(t, filepath.Join(stage, "pkg", "top.txt"), "t")
	if err := os.Rename(filepath.Join(stage, "pkg"), filepath.Join(dir, "pkg")); err != nil {
		t.Fatal(err)
	}
	l.waitSeen(t, filepath.Join(dir, "pkg"))
	l.clock.Advance(quiet)
	l.ctrl.waitFor(t, "sync of the new tree", func(c []call) bool {
		return hasChange(Change{HostPath: filepath.Join(dir, "pkg", "a", "b", "deep.txt"), ContainerPath: "/app/pkg/a/b/deep.txt"})(c) &&
			hasChange(Change{HostPath: filepath.Join(dir, "pkg", "top.txt"), ContainerPath: "/app/pkg/top.txt"})(c)
	})

	// The new deepest directory is watched now.
	later := filepath.Join(dir, "pkg", "a", "b", "later.txt")
	put(t, stage, later, "l")
	l.waitSeen(t, later)
	l.clock.Advance(quiet)
	l.ctrl.waitFor(t, "sync of a file in the new directory",
		hasChange(Change{HostPath: later, ContainerPath: "/app/pkg/a/b/later.txt"}))

	// Removing the tree syncs its deletion.
	if err := os.RemoveAll(filepath.Join(dir, "pkg")); err != nil {
		t.Fatal(err)
	}
	l.waitSeenOp(t, filepath.Join(dir, "pkg"), "REMOVE")
	l.clock.Advance(quiet)
	l.ctrl.waitFor(t, "deletion of the tree",
		hasChange(Change{HostPath: filepath.Join(dir, "pkg"), ContainerPath: "/app/pkg", Deleted: true}))
}

func TestLiveEditIgnoredAndIncluded(t *testing.T) {
	dir, stage := tempDir(t), tempDir(t)
	write(t, filepath.Join(dir, "node_modules", "x", "i.js"), "x")
	r := syncRule(dir, "/app")
	r.Ignore = []string{"node_modules/"}
	r.Include = []string{"**/*.py"}
	l := startRun(t, []Service{svc("web", r)}, newFakeClock())

	// An ignored file and a non-included one first, then the one that counts,
	// all in one batch: only the last is synced.
	put(t, stage, filepath.Join(dir, "notes.txt"), "n")
	put(t, stage, filepath.Join(dir, "app.py"), "print()")
	l.waitSeen(t, filepath.Join(dir, "app.py"))
	l.clock.Advance(quiet)
	calls := l.ctrl.waitFor(t, "sync", func(c []call) bool { return len(c) > 0 })
	if want := []Change{{HostPath: filepath.Join(dir, "app.py"), ContainerPath: "/app/app.py"}}; len(calls) != 1 || fmt.Sprint(calls[0].changes) != fmt.Sprint(want) {
		t.Fatalf("calls = %+v", calls)
	}
	if l.ready.Files != 1 {
		t.Errorf("watching %d directories, want 1 (node_modules skipped)", l.ready.Files)
	}
}

// inotifyFDs lists this process's inotify descriptors.
func inotifyFDs(t *testing.T) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if dst, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && dst == "anon_inode:inotify" {
			out[e.Name()] = true
		}
	}
	return out
}

// inotifyWatches counts the watches on inotify descriptor fd.
func inotifyWatches(t *testing.T, fd string) int {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc/self/fdinfo", fd))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "inotify wd:") {
			n++
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// A project with a 100,000-file node_modules must cost one watch per source
// directory, not per dependency directory, and register quickly.
//
// The watch count is asserted exactly. Registration time is logged; the goal
// is under 1 s, but the test only fails above 5 s so that a loaded 2-core
// machine does not make it flaky.
func TestLiveHugeIgnoredTree(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 100,000 files")
	}
	dir := memDir(t)
	const pkgs, perDir = 2500, 20 // 2 dirs per package → 5,000 dirs, 100,000 files
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := w; p < pkgs; p += 8 {
				lib := filepath.Join(dir, "node_modules", fmt.Sprintf("pkg%04d", p), "lib")
				if err := os.MkdirAll(lib, 0o755); err != nil {
					errs <- err
					return
				}
				for i := range perDir {
					for _, d := range []string{filepath.Dir(lib), lib} {
						f, err := os.Create(filepath.Join(d, fmt.Sprintf("f%02d.js", i)))
						if err != nil {
							errs <- err
							return
						}
						f.Close()
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	// The source tree, plus a .git that is skipped by default.
	for i := range 30 {
		write(t, filepath.Join(dir, "src", fmt.Sprintf("mod%d", i/3), fmt.Sprintf("sub%d", i%3), "main.go"), "package x")
	}
	for i := range 50 {
		write(t, filepath.Join(dir, ".git", "objects", fmt.Sprintf("%02x", i), "obj"), "o")
	}
	t.Logf("created %d files in %v", pkgs*perDir*2, time.Since(began).Round(time.Millisecond))

	wantDirs := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "node_modules" || d.Name() == ".git" {
				return filepath.SkipDir
			}
			wantDirs++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	before := inotifyFDs(t)
	r := types.Trigger{Path: dir, Action: types.WatchActionSync, Target: "/app", Ignore: []string{"node_modules/"}}
	l := startRun(t, []Service{svc("web", r)}, RealClock())
	var fd string
	for f := range inotifyFDs(t) {
		if !before[f] {
			if fd != "" {
				t.Fatalf("more than one new inotify descriptor (%s, %s)", fd, f)
			}
			fd = f
		}
	}
	if fd == "" {
		t.Fatal("no inotify descriptor found for the watcher")
	}
	got := inotifyWatches(t, fd)
	t.Logf("registration: %d watches in %v (non-ignored directories: %d)", got, l.ready.Duration.Round(time.Microsecond), wantDirs)
	if got != wantDirs {
		t.Errorf("inotify watches = %d, want %d (one per non-ignored directory)", got, wantDirs)
	}
	if l.ready.Files != wantDirs {
		t.Errorf("ready reports %d directories, want %d", l.ready.Files, wantDirs)
	}
	if l.ready.Duration > 5*time.Second {
		t.Errorf("registration took %v; the goal is under 1 s", l.ready.Duration)
	}
}

// Cancelling the context ends Run with nil, even with an action in flight.
func TestRunStopsOnCancel(t *testing.T) {
	dir, stage := tempDir(t), tempDir(t)
	l := startRun(t, []Service{svc("web", types.Trigger{Path: dir, Action: types.WatchActionRebuild})}, newFakeClock())
	l.ctrl.gate["rebuild"] = make(chan struct{}) // never opened: only cancellation ends it
	put(t, stage, filepath.Join(dir, "Dockerfile"), "FROM scratch")
	l.waitSeen(t, filepath.Join(dir, "Dockerfile"))
	l.clock.Advance(quiet)
	l.ctrl.waitFor(t, "rebuild", func(c []call) bool { return len(c) == 1 })
	// Cleanup cancels and checks the nil return.
}

// memDir is a temp dir on tmpfs when there is one: the test is about
// inotify, and creating 100,000 files on a slow disk only adds minutes.
func memDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return tempDir(t)
	}
	d, err := os.MkdirTemp("/dev/shm", "hoist-watch-test-")
	if err != nil {
		return tempDir(t)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if d, err = filepath.EvalSymlinks(d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Saving through a temporary file renamed over the target (sed -i, many
// editors) syncs the target only: the temporary file never reached the
// container, so no deletion is sent for it.
func TestLiveRenameOverSyncsOnlyTheTarget(t *testing.T) {
	dir := tempDir(t)
	target := filepath.Join(dir, "app.py")
	write(t, target, "v1")
	l := startRun(t, []Service{svc("web", syncRule(dir, "/app"))}, newFakeClock())
	tmp := filepath.Join(dir, "sedAbc123")
	write(t, tmp, "v2")
	if err := os.Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	l.waitSeen(t, target)
	l.clock.Advance(quiet)
	l.ctrl.waitFor(t, "sync of the target", hasChange(Change{HostPath: target, ContainerPath: "/app/app.py"}))
	for _, c := range l.ctrl.snapshot() {
		for _, ch := range c.changes {
			if ch.HostPath == tmp {
				t.Errorf("the temporary file was synced: %+v", ch)
			}
		}
	}
}
