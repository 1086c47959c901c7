package watch

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/fsnotify/fsnotify"
)

const quiet = 75 * time.Millisecond

func TestOrderWithinBatch(t *testing.T) {
	dir := tempDir(t)
	for _, d := range []string{"build", "src", "conf", "hooks"} {
		write(t, filepath.Join(dir, d, "f"), "x")
	}
	web := svc("web",
		types.Trigger{Path: filepath.Join(dir, "hooks"), Action: types.WatchActionSyncExec, Target: "/hooks",
			Exec: types.ServiceHook{Command: []string{"reload"}}},
		types.Trigger{Path: filepath.Join(dir, "conf"), Action: types.WatchActionRestart},
		syncRule(filepath.Join(dir, "src"), "/app"),
		types.Trigger{Path: filepath.Join(dir, "build"), Action: types.WatchActionRebuild},
	)
	h := newHarness(t, []Service{web}, Options{})

	for _, d := range []string{"hooks", "conf", "src"} {
		h.event(filepath.Join(dir, d, "f"), fsnotify.Write)
	}
	h.clock.Advance(quiet)
	h.idle()
	if got, want := ops(h.ctrl.snapshot()), []string{"sync", "restart", "exec"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	if c := h.ctrl.snapshot()[2]; !reflect.DeepEqual(c.cmd.Command, []string{"reload"}) {
		t.Errorf("exec command = %v", c.cmd.Command)
	}

	// With a rebuild in the batch it goes first; the restart is dropped
	// because the rebuild recreated the container.
	for _, d := range []string{"hooks", "conf", "src", "build"} {
		h.event(filepath.Join(dir, d, "f"), fsnotify.Write)
	}
	h.clock.Advance(quiet)
	h.idle()
	if got, want := ops(h.ctrl.snapshot()[3:]), []string{"rebuild", "sync", "exec"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	// Both sync rules' files travel in one Sync call.
	if n := len(h.ctrl.snapshot()[4].changes); n != 2 {
		t.Errorf("sync carried %d changes, want 2", n)
	}
}

func TestRebuildCollapse(t *testing.T) {
	dir := tempDir(t)
	write(t, filepath.Join(dir, "a.go"), "x")
	h := newHarness(t, []Service{svc("api", types.Trigger{Path: dir, Action: types.WatchActionRebuild})}, Options{})
	gate := make(chan struct{})
	h.ctrl.gate["rebuild"] = gate

	h.event(filepath.Join(dir, "a.go"), fsnotify.Write)
	h.clock.Advance(quiet)
	h.ctrl.waitFor(t, "first rebuild", func(c []call) bool { return len(c) == 1 })
	// Five more batches while the rebuild runs.
	for range 5 {
		h.event(filepath.Join(dir, "a.go"), fsnotify.Write)
		h.clock.Advance(quiet)
	}
	close(gate)
	h.idle()
	if got := ops(h.ctrl.snapshot()); !reflect.DeepEqual(got, []string{"rebuild", "rebuild"}) {
		t.Fatalf("calls = %v, want exactly one follow-up rebuild", got)
	}
}

func TestDeletionsAndMapping(t *testing.T) {
	dir := tempDir(t)
	write(t, filepath.Join(dir, "src", "a.txt"), "a")
	write(t, filepath.Join(dir, "src", "gone", "x"), "x")
	write(t, filepath.Join(dir, "src", "gone", "y"), "y")
	write(t, filepath.Join(dir, "src", "static", "logo.png"), "png")
	write(t, filepath.Join(dir, "package.json"), "{}")
	write(t, filepath.Join(dir, "other", "z"), "z")
	web := svc("web",
		syncRule(filepath.Join(dir, "src"), "/app"),
		// More specific than src: wins for files under it.
		syncRule(filepath.Join(dir, "src", "static"), "/srv/static/"),
		// A single-file rule maps to its target as is.
		syncRule(filepath.Join(dir, "package.json"), "/app/package.json"),
	)
	h := newHarness(t, []Service{web}, Options{})

	if err := os.RemoveAll(filepath.Join(dir, "src", "gone")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"src/a.txt", "src/gone", "src/static/logo.png", "package.json",
		"other/z", // outside every rule
	} {
		h.event(filepath.Join(dir, p), fsnotify.Write)
	}
	h.clock.Advance(quiet)
	h.idle()
	got := changesOf(h.ctrl.snapshot())
	want := []Change{
		{HostPath: filepath.Join(dir, "src", "gone"), ContainerPath: "/app/gone", Deleted: true},
		{HostPath: filepath.Join(dir, "src", "a.txt"), ContainerPath: "/app/a.txt"},
		{HostPath: filepath.Join(dir, "package.json"), ContainerPath: "/app/package.json"},
		{HostPath: filepath.Join(dir, "src", "static", "logo.png"), ContainerPath: "/srv/static/logo.png"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes:\n got %+v\nwant %+v", got, want)
	}
	// The deleted directory's files left the snapshot with it.
	h.w.mu.Lock()
	_, still := h.w.tree.snap[filepath.Join(dir, "src", "gone", "x")]
	h.w.mu.Unlock()
	if still {
		t.Error("snapshot still lists a file of the deleted directory")
	}
}

func TestIgnoreIncludeDockerignore(t *testing.T) {
	dir := tempDir(t)
	ctx := filepath.Join(dir, "app")
	write(t, filepath.Join(ctx, ".dockerignore"), "# comment\nsecrets\n*.tmp\n")
	files := []string{
		"app/main.go", "app/lib/util.go", "app/README.md",
		"app/node_modules/x/index.js", "app/debug.log",
		"app/secrets/key.go", "app/cache.tmp",
		"app/.git/HEAD", "app/.main.go.swp", "app/main.go~", "app/.#main.go", "app/4913",
		"docs/guide.md", // outside the build context: .dockerignore does not apply
		"docs/x.tmp",
	}
	for _, f := range files {
		write(t, filepath.Join(dir, f), "x")
	}
	web := Service{Name: "web", BuildContext: ctx, Rules: []types.Trigger{
		{Path: ctx, Action: types.WatchActionSync, Target: "/src",
			Ignore: []string{"node_modules/", "*.log"}, Include: []string{"**/*.go", "*.md"}},
		syncRule(filepath.Join(dir, "docs"), "/docs"),
	}}
	h := newHarness(t, []Service{web}, Options{})

	h.mu.Lock()
	added := slices.Clone(h.added)
	h.mu.Unlock()
	for _, d := range added {
		if strings.Contains(d, "node_modules") || strings.Contains(d, ".git") || strings.Contains(d, "secrets") {
			t.Errorf("ignored directory %s was watched", d)
		}
	}
	for _, f := range files {
		h.event(filepath.Join(dir, f), fsnotify.Write)
	}
	h.clock.Advance(quiet)
	h.idle()
	var got []string
	for _, c := range changesOf(h.ctrl.snapshot()) {
		got = append(got, c.ContainerPath)
	}
	want := []string{"/docs/guide.md", "/docs/x.tmp", "/src/README.md", "/src/lib/util.go", "/src/main.go"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("synced %v, want %v", got, want)
	}
}

func TestSymlinkOutsideIsSkipped(t *testing.T) {
	dir := tempDir(t)
	outside := tempDir(t)
	write(t, filepath.Join(outside, "passwd"), "secret")
	src := filepath.Join(dir, "src")
	write(t, filepath.Join(src, "real.txt"), "ok")
	if err := os.Symlink(filepath.Join(outside, "passwd"), filepath.Join(src, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.txt", filepath.Join(src, "alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../nowhere", filepath.Join(src, "dangling")); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, []Service{svc("web", syncRule(src, "/app"))}, Options{})
	for _, n := range []string{"evil", "alias", "dangling"} {
		h.event(filepath.Join(src, n), fsnotify.Create)
	}
	h.clock.Advance(quiet)
	h.idle()
	got := changesOf(h.ctrl.snapshot())
	if want := []Change{{HostPath: filepath.Join(src, "alias"), ContainerPath: "/app/alias"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("changes = %+v, want only the inside link", got)
	}
	skipped := h.rec.stage(StageSkipped)
	if len(skipped) != 2 {
		t.Fatalf("skipped events = %+v, want evil and dangling", skipped)
	}
	for _, e := range skipped {
		if !strings.Contains(e.Message, "outside") {
			t.Errorf("skip message %q does not say why", e.Message)
		}
	}
}

// A queue overflow loses events; the rescan must find exactly what changed.
func TestOverflowRescansAndSyncsDifference(t *testing.T) {
	dir := tempDir(t)
	for _, f := range []string{"keep", "edit", "remove", "sub/keep"} {
		write(t, filepath.Join(dir, f), "v1")
	}
	h := newHarness(t, []Service{svc("web", syncRule(dir, "/app"))}, Options{})

	write(t, filepath.Join(dir, "edit"), "version 2")
	write(t, filepath.Join(dir, "newdir", "new"), "n")
	if err := os.Remove(filepath.Join(dir, "remove")); err != nil {
		t.Fatal(err)
	}
	// No events are fed: they were "lost" in the overflow.
	if err := h.w.handleError(fsnotify.ErrEventOverflow); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(quiet)
	h.idle()
	want := []Change{
		{HostPath: filepath.Join(dir, "remove"), ContainerPath: "/app/remove", Deleted: true},
		{HostPath: filepath.Join(dir, "edit"), ContainerPath: "/app/edit"},
		{HostPath: filepath.Join(dir, "newdir", "new"), ContainerPath: "/app/newdir/new"},
	}
	if got := changesOf(h.ctrl.snapshot()); !reflect.DeepEqual(got, want) {
		t.Fatalf("changes = %+v\nwant %+v", got, want)
	}
	if r := h.rec.stage(StageRescan); len(r) != 1 || r[0].Files != 3 {
		t.Errorf("rescan events = %+v", r)
	}
	// The new directory got a watch during the rescan.
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.added, filepath.Join(dir, "newdir")) {
		t.Error("rescan did not watch the new directory")
	}
}

func TestOtherWatcherErrorsEndTheWatch(t *testing.T) {
	dir := tempDir(t)
	h := newHarness(t, []Service{svc("web", syncRule(dir, "/app"))}, Options{})
	if err := h.w.handleError(errors.New("short read")); err == nil {
		t.Fatal("a watcher error was swallowed")
	}
}

func TestLimitErrorsNameTheSysctl(t *testing.T) {
	dir := tempDir(t)
	for _, tc := range []struct {
		errno  syscall.Errno
		sysctl string
	}{
		{syscall.ENOSPC, "max_user_watches"},
		{syscall.EMFILE, "max_user_instances"},
	} {
		w, err := newWatcher(t.Context(), Config{Services: []Service{svc("web", syncRule(dir, "/app"))}, Controller: newFakeCtrl()},
			func(string) error { return tc.errno }, func(string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		err = w.start()
		if !errors.Is(err, tc.errno) {
			t.Fatalf("err = %v, want %v wrapped", err, tc.errno)
		}
		cur := sysctlValue(tc.sysctl)
		for _, want := range []string{"fs.inotify." + tc.sysctl, " is " + cur + ";", dir} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		t.Logf("%v", err)
	}
}

func TestInitialSync(t *testing.T) {
	dir := tempDir(t)
	write(t, filepath.Join(dir, "a", "one"), "1")
	write(t, filepath.Join(dir, "two"), "2")
	write(t, filepath.Join(dir, "skip.log"), "2")
	r := syncRule(dir, "/app")
	r.InitialSync = true
	r.Ignore = []string{"*.log"}
	other := syncRule(dir, "/other") // no initial_sync
	h := newHarness(t, []Service{svc("web", r), svc("worker", other)}, Options{})
	h.idle()
	calls := h.ctrl.snapshot()
	want := []Change{
		{HostPath: filepath.Join(dir, "a", "one"), ContainerPath: "/app/a/one"},
		{HostPath: filepath.Join(dir, "two"), ContainerPath: "/app/two"},
	}
	if len(calls) != 1 || calls[0].service != "web" || !reflect.DeepEqual(calls[0].changes, want) {
		t.Fatalf("initial sync calls = %+v", calls)
	}
}

func TestBindMountedPathsAreSkipped(t *testing.T) {
	dir := tempDir(t)
	write(t, filepath.Join(dir, "src", "a"), "a")
	write(t, filepath.Join(dir, "src", "data", "b"), "b")
	web := Service{Name: "web",
		BindSources: []string{filepath.Join(dir, "src", "data")},
		Rules:       []types.Trigger{{Path: filepath.Join(dir, "src"), Action: types.WatchActionSyncRestart, Target: "/app"}},
	}
	h := newHarness(t, []Service{web}, Options{})
	if w := h.rec.stage(StageWarning); len(w) != 1 || !strings.Contains(w[0].Message, "bind-mounted") {
		t.Fatalf("warnings = %+v", w)
	}
	h.event(filepath.Join(dir, "src", "data", "b"), fsnotify.Write)
	h.clock.Advance(quiet)
	h.idle()
	// The bind-mounted file is not synced, but the rule still restarts.
	if got := ops(h.ctrl.snapshot()); !reflect.DeepEqual(got, []string{"restart"}) {
		t.Fatalf("calls = %v", got)
	}
	h.event(filepath.Join(dir, "src", "a"), fsnotify.Write)
	h.clock.Advance(quiet)
	h.idle()
	if got := ops(h.ctrl.snapshot()); !reflect.DeepEqual(got, []string{"restart", "sync", "restart"}) {
		t.Fatalf("calls = %v", got)
	}
}

// A restart whose container writes the same file into the watched tree each
// time it starts would restart forever; the rule is paused instead.
func TestRestartLoopIsPaused(t *testing.T) {
	dir := tempDir(t)
	logf := filepath.Join(dir, "app.pid")
	write(t, logf, "1")
	h := newHarness(t, []Service{svc("web", types.Trigger{Path: dir, Action: types.WatchActionRestart})},
		Options{LoopLimit: 3})
	h.ctrl.hook["restart"] = func() { h.event(logf, fsnotify.Write) }

	h.event(logf, fsnotify.Write)
	for i := 1; i <= 3; i++ {
		h.clock.Advance(quiet)
		h.ctrl.waitFor(t, "restart", func(c []call) bool { return len(c) == i })
	}
	h.clock.Advance(quiet) // the 4th identical trigger in a row
	h.idle()
	if n := len(h.ctrl.snapshot()); n != 3 {
		t.Fatalf("%d restarts, want 3 before pausing", n)
	}
	p := h.rec.stage(StagePaused)
	if len(p) != 1 || !strings.Contains(p[0].Message, "paused") || p[0].Service != "web" {
		t.Fatalf("paused events = %+v", p)
	}
	// A genuine edit later does not wake the paused rule.
	h.clock.Advance(time.Minute)
	h.event(logf, fsnotify.Write)
	h.clock.Advance(quiet)
	h.idle()
	if n := len(h.ctrl.snapshot()); n != 3 {
		t.Fatalf("paused rule ran again")
	}
}

// Saving the same file by hand, with pauses longer than LoopGap, is not a
// loop.
func TestRepeatedEditsAreNotALoop(t *testing.T) {
	dir := tempDir(t)
	f := filepath.Join(dir, "main.py")
	write(t, f, "1")
	h := newHarness(t, []Service{svc("web", types.Trigger{Path: dir, Action: types.WatchActionRestart})},
		Options{LoopLimit: 2})
	for range 6 {
		h.event(f, fsnotify.Write)
		h.clock.Advance(quiet)
		h.idle()
		h.clock.Advance(3 * time.Second)
	}
	if n := len(h.ctrl.snapshot()); n != 6 {
		t.Fatalf("%d restarts, want 6", n)
	}
}

// A plain sync cannot re-trigger itself: saving one file many times in
// quick succession keeps syncing it.
func TestQuickRepeatedSyncsAreNotALoop(t *testing.T) {
	dir := tempDir(t)
	f := filepath.Join(dir, "a.txt")
	write(t, f, "1")
	h := newHarness(t, []Service{svc("web", syncRule(dir, "/app"))}, Options{LoopLimit: 2})
	for range 6 {
		h.event(f, fsnotify.Write)
		h.clock.Advance(quiet)
		h.idle()
		h.clock.Advance(10 * time.Millisecond)
	}
	if n := len(h.ctrl.snapshot()); n != 6 {
		t.Fatalf("%d syncs, want 6", n)
	}
	if p := h.rec.stage(StagePaused); len(p) != 0 {
		t.Fatalf("paused: %+v", p)
	}
}

func TestEventStages(t *testing.T) {
	dir := tempDir(t)
	write(t, filepath.Join(dir, "a"), "a")
	h := newHarness(t, []Service{svc("web", syncRule(dir, "/app"))}, Options{})
	h.ctrl.hook["sync"] = func() { h.clock.Advance(12 * time.Millisecond) }
	h.event(filepath.Join(dir, "a"), fsnotify.Write)
	h.clock.Advance(quiet)
	h.idle()
	var stages []Stage
	for _, e := range h.rec.all() {
		stages = append(stages, e.Stage)
	}
	if want := []Stage{StageReady, StageSeen, StageFlushed, StageStarted, StageDone}; !reflect.DeepEqual(stages, want) {
		t.Fatalf("stages = %v, want %v", stages, want)
	}
	fl := h.rec.stage(StageFlushed)[0]
	done := h.rec.stage(StageDone)[0]
	if fl.Duration != quiet || fl.Files != 1 {
		t.Errorf("flushed = %+v", fl)
	}
	if done.Service != "web" || done.Action != ActionSync || done.Files != 1 || done.Duration != 12*time.Millisecond || done.Err != nil {
		t.Errorf("done = %+v", done)
	}
}

func TestFromProject(t *testing.T) {
	p := &types.Project{WorkingDir: "/proj", Services: types.Services{
		"web": {Name: "web",
			WorkloadSpec:  types.WorkloadSpec{Build: &types.BuildConfig{Context: "web"}},
			ContainerSpec: types.ContainerSpec{Volumes: []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "./data", Target: "/data"}, {Type: types.VolumeTypeVolume, Source: "v"}}},
			Develop:       &types.DevelopConfig{Watch: []types.Trigger{{Path: "web/src", Action: types.WatchActionSync, Target: "/app"}}}},
		"db": {Name: "db"},
	}}
	got, err := FromProject(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Service{{Name: "web", BuildContext: "/proj/web", Dockerfile: "/proj/web/Dockerfile", BindSources: []string{"/proj/data"},
		Rules: []types.Trigger{{Path: "/proj/web/src", Action: types.WatchActionSync, Target: "/app"}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// As for the build, <Dockerfile>.dockerignore, when it exists, is the ignore
// file of the context (and <context>/.dockerignore is not read).
func TestDockerfileSpecificIgnore(t *testing.T) {
	dir := tempDir(t)
	ctx := filepath.Join(dir, "app")
	write(t, filepath.Join(ctx, ".dockerignore"), "*.go\n")
	write(t, filepath.Join(ctx, "build", "web.Dockerfile"), "FROM scratch\n")
	write(t, filepath.Join(ctx, "build", "web.Dockerfile.dockerignore"), "*.tmp\n")
	files := []string{"app/main.go", "app/cache.tmp"}
	for _, f := range files {
		write(t, filepath.Join(dir, f), "x")
	}
	web := Service{Name: "web", BuildContext: ctx, Dockerfile: filepath.Join(ctx, "build", "web.Dockerfile"), Rules: []types.Trigger{
		{Path: ctx, Action: types.WatchActionSync, Target: "/src"},
	}}
	h := newHarness(t, []Service{web}, Options{})
	for _, f := range files {
		h.event(filepath.Join(dir, f), fsnotify.Write)
	}
	h.clock.Advance(quiet)
	h.idle()
	var got []string
	for _, c := range changesOf(h.ctrl.snapshot()) {
		got = append(got, c.ContainerPath)
	}
	if !reflect.DeepEqual(got, []string{"/src/main.go"}) {
		t.Fatalf("synced %v, want only /src/main.go", got)
	}
}

func TestFromProjectDockerfile(t *testing.T) {
	svc := func(name string, b *types.BuildConfig) types.ServiceConfig {
		s := types.ServiceConfig{Name: name}
		s.Build = b
		s.Develop = &types.DevelopConfig{Watch: []types.Trigger{{Path: "src", Action: types.WatchActionSync, Target: "/s"}}}
		return s
	}
	p := &types.Project{WorkingDir: "/proj", Services: types.Services{
		"a": svc("a", &types.BuildConfig{Context: "/proj/a"}),
		"b": svc("b", &types.BuildConfig{Context: "/proj/b", Dockerfile: "x/B.Dockerfile"}),
		"c": svc("c", &types.BuildConfig{Context: "/proj/c", DockerfileInline: "FROM scratch"}),
	}}
	svcs, err := FromProject(p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range svcs {
		got[s.Name] = s.Dockerfile
	}
	want := map[string]string{"a": "/proj/a/Dockerfile", "b": "/proj/b/x/B.Dockerfile", "c": ""}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Dockerfiles %v, want %v", got, want)
	}
}
