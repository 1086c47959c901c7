package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/testimage"
)

func TestMain(m *testing.M) {
	if runtime.MaybeInit() {
		return
	}
	os.Exit(m.Run())
}

const baseRef = "hoist-test/busybox:latest"

// fixture is a store holding the busybox test image and a builder on it.
type fixture struct {
	store *image.Store
	b     *Builder
	cache string
}

var (
	baseOnce sync.Once
	baseTar  []byte
	baseErr  error
)

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("building needs root (overlay mounts, containers)")
	}
	if err := testimage.Available(); err != nil {
		tb.Skip(err)
	}
	baseOnce.Do(func() {
		var buf bytes.Buffer
		baseErr = testimage.WriteRootfs(&buf)
		baseTar = buf.Bytes()
	})
	if baseErr != nil {
		tb.Fatal(baseErr)
	}
	root := tb.TempDir()
	store, err := image.Open(filepath.Join(root, "store"))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := store.Import(context.Background(), bytes.NewReader(baseTar), baseRef, []string{
		"ENV PATH=/bin:/usr/bin:/sbin",
	}); err != nil {
		tb.Fatal(err)
	}
	cache := filepath.Join(root, "cache")
	tb.Cleanup(func() { checkNoMounts(tb, root) })
	return &fixture{store: store, b: New(store, Options{CacheDir: cache}), cache: cache}
}

func checkNoMounts(tb testing.TB, root string) {
	tb.Helper()
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	if strings.Contains(string(raw), root) {
		tb.Errorf("mounts left behind under %s:\n%s", root, raw)
	}
	tmp := filepath.Join(root, "cache", "tmp")
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		tb.Errorf("scratch dirs left behind in %s: %d", tmp, len(ents))
	}
}

// writeTree writes files (name -> content) under dir.
func writeTree(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

type result struct {
	id    string
	lines []string
	err   error
	took  time.Duration
}

func (r result) count(substr string) int {
	n := 0
	for _, l := range r.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func (f *fixture) build(tb testing.TB, spec engine.BuildSpec) result {
	tb.Helper()
	var r result
	start := time.Now()
	r.id, r.err = f.b.Build(context.Background(), spec, func(s string) { r.lines = append(r.lines, s) })
	r.took = time.Since(start)
	return r
}

func (f *fixture) mustBuild(tb testing.TB, spec engine.BuildSpec) result {
	tb.Helper()
	r := f.build(tb, spec)
	if r.err != nil {
		tb.Fatalf("build: %v\n%s", r.err, strings.Join(r.lines, "\n"))
	}
	return r
}

// readFile reads p from the image's rootfs, mounted read-only; ok is false
// when it does not exist.
func (f *fixture) readFile(tb testing.TB, ref, p string) (string, bool) {
	tb.Helper()
	img, err := f.store.Resolve(context.Background(), ref)
	if err != nil {
		tb.Fatal(err)
	}
	target := filepath.Join(tb.TempDir(), "rootfs")
	if err := image.MountRootfs(img.Layers, "", "", target); err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if err := image.Unmount(target); err != nil {
			tb.Error(err)
		}
	}()
	raw, err := os.ReadFile(filepath.Join(target, p))
	if os.IsNotExist(err) {
		return "", false
	}
	if err != nil {
		tb.Fatal(err)
	}
	return string(raw), true
}

// cacheMountFile is a file in a RUN --mount=type=cache dir (id = target).
func (f *fixture) cacheMountFile(target, name string) string {
	sum := sha256.Sum256([]byte(target))
	return filepath.Join(f.cache, "mounts", hex.EncodeToString(sum[:16]), name)
}

func runCount(tb testing.TB, f *fixture) int {
	tb.Helper()
	raw, err := os.ReadFile(f.cacheMountFile("/runs", "count"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Count(string(raw), "\n")
}

const seedDockerfile = `# syntax=docker/dockerfile:1
ARG BASE=` + baseRef + `
FROM ${BASE}
WORKDIR /application
COPY req.txt /application/
RUN --mount=type=cache,target=/runs echo run >> /runs/count && \
    cat req.txt > installed.txt
COPY . /application
EXPOSE 5001
CMD ["python", "app.py"]
`

func seedContext(tb testing.TB) string {
	dir := tb.TempDir()
	writeTree(tb, dir, map[string]string{
		"Dockerfile": seedDockerfile,
		"req.txt":    "flask\nredis\n",
		"app.py":     "print('hello')\n",
	})
	return dir
}

func TestSeedDockerfile(t *testing.T) {
	f := newFixture(t)
	dir := seedContext(t)
	spec := engine.BuildSpec{Tag: "hoist-test/web:latest", Service: "web", Context: dir}

	first := f.mustBuild(t, spec)
	t.Logf("cold build %v", first.took)
	if n := runCount(t, f); n != 1 {
		t.Fatalf("RUN ran %d times, want 1", n)
	}
	img, err := f.store.Resolve(context.Background(), spec.Tag)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != first.id {
		t.Fatalf("tag points at %s, build returned %s", img.ID, first.id)
	}
	cfg := img.Config.Config
	if cfg.WorkingDir != "/application" {
		t.Errorf("WorkingDir %q", cfg.WorkingDir)
	}
	if _, ok := cfg.ExposedPorts["5001/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v", cfg.ExposedPorts)
	}
	if strings.Join(cfg.Cmd, " ") != "python app.py" {
		t.Errorf("Cmd %q", cfg.Cmd)
	}
	if !hasEnv(cfg.Env, "PATH") {
		t.Errorf("Env %q", cfg.Env)
	}
	// import + WORKDIR, COPY, RUN, COPY; EXPOSE and CMD are empty.
	if got := len(img.Config.RootFS.DiffIDs); got != 5 {
		t.Errorf("%d layers, want 5", got)
	}
	var hist []string
	for _, h := range img.Config.History {
		s := h.CreatedBy
		if h.EmptyLayer {
			s += " (empty)"
		}
		hist = append(hist, s)
	}
	wantHist := []string{
		"hoist import",
		"WORKDIR /application",
		"COPY req.txt /application/",
		"RUN /bin/sh -c echo run >> /runs/count &&     cat req.txt > installed.txt",
		"COPY . /application",
		"EXPOSE 5001 (empty)",
		`CMD ["python", "app.py"] (empty)`,
	}
	if strings.Join(hist, "\n") != strings.Join(wantHist, "\n") {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(hist, "\n"), strings.Join(wantHist, "\n"))
	}
	if got, _ := f.readFile(t, spec.Tag, "application/installed.txt"); got != "flask\nredis\n" {
		t.Errorf("installed.txt = %q", got)
	}
	if got, _ := f.readFile(t, spec.Tag, "application/app.py"); got != "print('hello')\n" {
		t.Errorf("app.py = %q", got)
	}
	if first.count("[web 4/7] RUN") != 1 {
		t.Errorf("progress:\n%s", strings.Join(first.lines, "\n"))
	}

	// No change: nothing runs, same image.
	again := f.mustBuild(t, spec)
	t.Logf("no-change build %v", again.took)
	if n := runCount(t, f); n != 1 {
		t.Fatalf("RUN ran again (%d)", n)
	}
	if again.id != first.id {
		t.Errorf("no-change build gave %s, want %s", again.id, first.id)
	}
	if again.count("CACHED") != 4 {
		t.Errorf("want 4 CACHED steps:\n%s", strings.Join(again.lines, "\n"))
	}
	if again.took > time.Second {
		t.Errorf("no-change build took %v", again.took)
	}

	// The cache is on disk: a new Builder (another hoist process) hits it.
	fresh := &fixture{store: f.store, b: New(f.store, Options{CacheDir: f.cache}), cache: f.cache}
	if r := fresh.mustBuild(t, spec); r.id != first.id || r.count("CACHED") != 4 {
		t.Errorf("new builder on the same cache:\n%s", strings.Join(r.lines, "\n"))
	}

	// Another tag for the same build is the same image.
	other := spec
	other.Tag = "hoist-test/web2:latest"
	if r := f.mustBuild(t, other); r.id != first.id {
		t.Errorf("second tag got %s, want %s", r.id, first.id)
	}
	if img, err := f.store.Resolve(context.Background(), other.Tag); err != nil || img.ID != first.id {
		t.Errorf("second tag resolves to %v (%v)", img, err)
	}

	// Editing a file under COPY . re-runs only the last COPY.
	writeTree(t, dir, map[string]string{"app.py": "print('edited')\n"})
	edit := f.mustBuild(t, spec)
	t.Logf("edit build %v", edit.took)
	if n := runCount(t, f); n != 1 {
		t.Fatalf("RUN ran again after editing app.py (%d)", n)
	}
	if edit.count("CACHED") != 3 || edit.id == first.id {
		t.Errorf("edit build:\n%s", strings.Join(edit.lines, "\n"))
	}
	if got, _ := f.readFile(t, spec.Tag, "application/app.py"); got != "print('edited')\n" {
		t.Errorf("app.py = %q", got)
	}

	// Editing req.txt re-runs the RUN after it.
	writeTree(t, dir, map[string]string{"req.txt": "flask\n"})
	f.mustBuild(t, spec)
	if n := runCount(t, f); n != 2 {
		t.Fatalf("RUN ran %d times after editing req.txt, want 2", n)
	}
	if got, _ := f.readFile(t, spec.Tag, "application/installed.txt"); got != "flask\n" {
		t.Errorf("installed.txt = %q", got)
	}

	// A mode change is a change; an mtime change is not.
	now := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "req.txt"), now, now); err != nil {
		t.Fatal(err)
	}
	f.mustBuild(t, spec)
	if n := runCount(t, f); n != 2 {
		t.Fatalf("an mtime change re-ran RUN (%d)", n)
	}

	// NoCache runs everything.
	spec.NoCache = true
	f.mustBuild(t, spec)
	if n := runCount(t, f); n != 3 {
		t.Fatalf("NoCache: RUN ran %d times, want 3", n)
	}

	// GC drops the entries of the two final images that lost their tag
	// (after editing app.py, after editing req.txt; the first is still
	// web2) and keeps the others: the next build still hits every step.
	if n, err := f.b.GC(context.Background()); err != nil || n != 2 {
		t.Fatalf("GC removed %d (%v), want 2", n, err)
	}
	spec.NoCache = false
	after := f.mustBuild(t, spec)
	if n := runCount(t, f); n != 3 || after.count("CACHED") != 4 {
		t.Fatalf("after GC: %d runs\n%s", n, strings.Join(after.lines, "\n"))
	}
}

func TestMultiStage(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": `
FROM ` + baseRef + ` AS builder
ARG MSG=default
RUN mkdir -p /out && echo "built $MSG $TARGETARCH" > /out/artifact

FROM builder AS unused
RUN exit 1

FROM scratch
ARG TARGETARCH
COPY --from=builder /out/artifact /artifact
COPY --from=0 /out /copied/
ENV A=1 B=$TARGETARCH
ENTRYPOINT ["/artifact"]
`})
	msg := "hello"
	spec := engine.BuildSpec{Tag: "hoist-test/multi", Context: dir, Args: map[string]*string{"MSG": &msg}}
	r := f.mustBuild(t, spec)
	got, _ := f.readFile(t, spec.Tag, "artifact")
	if !strings.HasPrefix(got, "built hello ") {
		t.Errorf("artifact = %q", got)
	}
	if got2, _ := f.readFile(t, spec.Tag, "copied/artifact"); got2 != got {
		t.Errorf("copied/artifact = %q", got2)
	}
	if _, ok := f.readFile(t, spec.Tag, "bin/busybox"); ok {
		t.Error("scratch stage has the base image's files")
	}
	img, _ := f.store.Resolve(context.Background(), spec.Tag)
	if len(img.Config.RootFS.DiffIDs) != 2 || strings.Join(img.Config.Config.Entrypoint, " ") != "/artifact" {
		t.Errorf("config %+v", img.Config)
	}
	if !hasEnv(img.Config.Config.Env, "B") || !strings.Contains(strings.Join(img.Config.Config.Env, " "), "B="+strings.TrimSpace(strings.TrimPrefix(got, "built hello "))) {
		t.Errorf("Env %q", img.Config.Config.Env)
	}
	if r.count("[multi") != 0 && r.count("[builder") == 0 {
		t.Errorf("progress:\n%s", strings.Join(r.lines, "\n"))
	}
	// Target picks a stage.
	spec.Target, spec.Tag = "builder", "hoist-test/builder"
	f.mustBuild(t, spec)
	if got, _ := f.readFile(t, spec.Tag, "out/artifact"); !strings.HasPrefix(got, "built hello") {
		t.Errorf("target builder: %q", got)
	}
}

func TestHeredocAndWhiteouts(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"plain.txt": "plain\n", "Dockerfile": `FROM ` + baseRef + `
RUN <<EOF
mkdir -p /d /keep
echo one > /d/f
echo two >> /d/f
echo kept > /keep/k
echo gone > /etc/doomed
EOF
RUN <<EOF
#!/bin/sh
echo shebang > /h2
EOF
RUN cat > /h3 <<EOT
inline
EOT
RUN rm /etc/doomed /etc/hostname && rm -rf /d && mkdir /d && echo new > /d/g
RUN --mount=type=bind,source=plain.txt,target=/mnt/in/p --mount=type=tmpfs,target=/scratch \
    cp /mnt/in/p /bound && touch /scratch/x
RUN --network=none ls /sys/class/net > /nets
USER nobody
WORKDIR /home/nobody/work
`})
	spec := engine.BuildSpec{Tag: "hoist-test/heredoc", Context: dir}
	f.mustBuild(t, spec)
	for p, want := range map[string]string{"keep/k": "kept\n", "h2": "shebang\n", "h3": "inline\n", "d/g": "new\n", "bound": "plain\n"} {
		if got, ok := f.readFile(t, spec.Tag, p); !ok || got != want {
			t.Errorf("%s = %q (%v), want %q", p, got, ok, want)
		}
	}
	if got, _ := f.readFile(t, spec.Tag, "nets"); got != "lo\n" {
		t.Errorf("--network=none sees %q", got)
	}
	for _, p := range []string{"etc/doomed", "etc/hostname", "d/f", "mnt", "scratch"} {
		if _, ok := f.readFile(t, spec.Tag, p); ok {
			t.Errorf("%s survived its deletion", p)
		}
	}
	// The runtime's mount points did not leak into a layer.
	if _, ok := f.readFile(t, spec.Tag, ".hoist-heredoc"); ok {
		t.Error("heredoc mount point left in the image")
	}
	img, _ := f.store.Resolve(context.Background(), spec.Tag)
	if img.Config.Config.User != "nobody" || img.Config.Config.WorkingDir != "/home/nobody/work" {
		t.Errorf("User %q WorkingDir %q", img.Config.Config.User, img.Config.Config.WorkingDir)
	}
	info := statInImage(t, f, spec.Tag, "home/nobody/work")
	if info == nil || info.uid != 65534 {
		t.Errorf("WORKDIR owner: %+v", info)
	}
}

type ownerInfo struct{ uid, gid int }

func statInImage(tb testing.TB, f *fixture, ref, p string) *ownerInfo {
	img, err := f.store.Resolve(context.Background(), ref)
	if err != nil {
		tb.Fatal(err)
	}
	target := filepath.Join(tb.TempDir(), "rootfs")
	if err := image.MountRootfs(img.Layers, "", "", target); err != nil {
		tb.Fatal(err)
	}
	defer image.Unmount(target)
	fi, err := os.Lstat(filepath.Join(target, p))
	if err != nil {
		return nil
	}
	st := fi.Sys().(*syscall.Stat_t)
	return &ownerInfo{int(st.Uid), int(st.Gid)}
}

func TestDockerignoreAndEscapes(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":         "FROM " + baseRef + "\nCOPY . /app\nCOPY --chown=nobody:nogroup --chmod=600 keep.txt /owned\n",
		".dockerignore":      "secret.txt\nlogs\n!logs/important.log\n",
		"secret.txt":         "s3cret",
		"keep.txt":           "keep",
		"logs/a.log":         "a",
		"logs/important.log": "i",
		"sub/x":              "x",
	})
	spec := engine.BuildSpec{Tag: "hoist-test/ignore", Context: dir}
	f.mustBuild(t, spec)

	// <Dockerfile>.dockerignore wins over .dockerignore.
	writeTree(t, dir, map[string]string{
		"other.Dockerfile":              "FROM " + baseRef + "\nCOPY . /app\n",
		"other.Dockerfile.dockerignore": "keep.txt\n",
	})
	otherSpec := engine.BuildSpec{Tag: "hoist-test/ignore2", Context: dir, Dockerfile: "other.Dockerfile"}
	f.mustBuild(t, otherSpec)
	if _, ok := f.readFile(t, otherSpec.Tag, "app/keep.txt"); ok {
		t.Error("keep.txt ignored by other.Dockerfile.dockerignore is in the image")
	}
	if _, ok := f.readFile(t, otherSpec.Tag, "app/secret.txt"); !ok {
		t.Error("secret.txt, ignored only by .dockerignore, is missing")
	}
	if _, ok := f.readFile(t, spec.Tag, "app/secret.txt"); ok {
		t.Error("ignored secret.txt is in the image")
	}
	if _, ok := f.readFile(t, spec.Tag, "app/logs/a.log"); ok {
		t.Error("ignored logs/a.log is in the image")
	}
	for _, p := range []string{"app/keep.txt", "app/sub/x", "app/logs/important.log"} {
		if _, ok := f.readFile(t, spec.Tag, p); !ok {
			t.Errorf("%s missing", p)
		}
	}
	if o := statInImage(t, f, spec.Tag, "owned"); o == nil || o.uid != 65534 || o.gid != 65534 {
		t.Errorf("--chown: %+v", o)
	}

	// A symlink leading out of the context is refused, naming the step.
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + baseRef + "\nCOPY link /x\n"})
	r := f.build(t, spec)
	if r.err == nil || !strings.Contains(r.err.Error(), "COPY link /x") || !strings.Contains(r.err.Error(), "line 2") ||
		!strings.Contains(r.err.Error(), "outside the build context") {
		t.Errorf("symlink escape: %v", r.err)
	}
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + baseRef + "\nADD ../x /x\n"})
	if r := f.build(t, spec); r.err == nil || !strings.Contains(r.err.Error(), "outside the build context") {
		t.Errorf(".. escape: %v", r.err)
	}
	// An ignored file cannot be named either.
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + baseRef + "\nCOPY secret.txt /x\n"})
	if r := f.build(t, spec); r.err == nil {
		t.Error("COPY of an ignored file succeeded")
	}
	// A failing RUN names its step and leaves nothing mounted.
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + baseRef + "\nRUN echo oops && exit 3\n"})
	if r := f.build(t, spec); r.err == nil || !strings.Contains(r.err.Error(), "exit code 3") || !strings.Contains(r.err.Error(), "oops") {
		t.Errorf("failing RUN: %v", r.err)
	}
}

func TestAddArchiveAndInline(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	// A tar.gz made by the busybox test image itself.
	writeTree(t, dir, map[string]string{"plain.txt": "plain"})
	if err := os.WriteFile(filepath.Join(dir, "rootfs.tar"), baseTar, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := engine.BuildSpec{Tag: "hoist-test/add", Context: dir, Inline: `FROM scratch
ADD rootfs.tar /unpacked/
ADD plain.txt /plain.txt
COPY <<EOF /greeting
hi
EOF
LABEL a=b
HEALTHCHECK --interval=5s CMD ["true"]
STOPSIGNAL SIGINT
VOLUME /data
ONBUILD RUN echo child
`, Labels: map[string]string{"extra": "yes"}}
	f.mustBuild(t, spec)
	if _, ok := f.readFile(t, spec.Tag, "unpacked/bin/busybox"); !ok {
		t.Error("ADD did not unpack the archive")
	}
	if got, _ := f.readFile(t, spec.Tag, "greeting"); got != "hi\n" {
		t.Errorf("heredoc COPY: %q", got)
	}
	img, _ := f.store.Resolve(context.Background(), spec.Tag)
	c := img.Config.Config
	if c.Labels["a"] != "b" || c.Labels["extra"] != "yes" || c.StopSignal != "SIGINT" ||
		c.Healthcheck == nil || c.Healthcheck.Interval != 5*time.Second || len(c.OnBuild) != 1 {
		t.Errorf("config %+v", c)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("Volumes %v", c.Volumes)
	}
}

func TestCancelledRun(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + baseRef + "\nRUN echo started && sleep 60\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := f.b.Build(ctx, engine.BuildSpec{Context: dir}, func(s string) {
		if strings.HasSuffix(s, "started") {
			cancel()
		}
	})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("cancelled build: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("cancel took %v", took)
	}
	// The container's cgroups are gone (mounts and scratch dirs are
	// checked by the fixture).
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/*/hoist/hoist-build-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/*/hoist/hoist-build-*")
	if len(matches)+len(more) > 0 {
		t.Errorf("cgroups left: %v %v", matches, more)
	}
}

// Two steps that make the very same layer (the same file copied twice)
// leave an image listing one layer directory twice; a later step still
// mounts it (overlayfs refuses a directory that is two of its layers).
func TestIdenticalLayersTwice(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.txt":      "a",
		"Dockerfile": "FROM " + baseRef + "\nCOPY a.txt /x/a.txt\nRUN rm /x/a.txt\nCOPY a.txt /x/a.txt\nRUN cat /x/a.txt > /y\n",
	})
	r := f.mustBuild(t, engine.BuildSpec{Tag: "hoist-test/twice", Context: dir})
	if got, ok := f.readFile(t, r.id, "y"); !ok || got != "a" {
		t.Errorf("y = %q, %v", got, ok)
	}
}
