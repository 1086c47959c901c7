// Command bench times hoist, on each of its engines (native and docker),
// against docker-compose (and docker compose v2 when present) on the same
// compose files, in the same run, and prints the medians and their ratios as
// a markdown table. It is not a test: nothing is asserted, the goals are only
// reported.
//
//	go run ./bench [-scenarios sample,fan20,fan50,chain20,chain50] [-n 3]
//	               [-hoist PATH] [-hoist-engines native,docker] [-peers auto]
//	               [-out bench/results/latest.md]
//	go run ./bench -scenarios sample,fan20,build,run   # under 10 minutes
//
// Every scenario has its own project names (hbench-<scenario>-<tool>) and is
// torn down after each run; whatever is left (failure, Ctrl-C) is removed
// before the bench exits: docker rm -f on dockerd, hoist down on the native
// engine.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/internal/testimage"
)

const defaultScenarios = "sample,fan20,fan50,chain20,chain50"

// quickScenarios is the set documented to finish within 10 minutes.
const quickScenarios = "sample,fan20,build,run"

type options struct {
	scenarios string
	n         int
	nLarge    int
	hoist     string
	peers     string
	out       string
	api       string
	engines   string
	cmdTO     time.Duration
}

func main() { os.Exit(run()) }

func run() int {
	var o options
	flag.StringVar(&o.scenarios, "scenarios", defaultScenarios, "comma list of scenarios: sample, fanN, chainN, build, run, watch (under 10 minutes: "+quickScenarios+")")
	flag.StringVar(&o.engines, "hoist-engines", "native,docker", "hoist's engines, one column each: native, docker")
	flag.IntVar(&o.n, "n", 3, "runs per scenario (the table shows the median)")
	flag.IntVar(&o.nLarge, "n-large", 1, "runs for scenarios of more than 20 services (0: same as -n); keeps the default bench near 6 minutes")
	flag.StringVar(&o.hoist, "hoist", "", "hoist binary (default: build ./cmd/hoist into a temporary directory)")
	flag.StringVar(&o.peers, "peers", "auto", `comma list of peers: "docker-compose", "docker compose"; auto: docker-compose, plus docker compose when it is installed`)
	flag.StringVar(&o.out, "out", "", "markdown report (default: bench/results/latest.md in the repository)")
	flag.StringVar(&o.api, "api", "fan20", "scenario whose hoist up -d gets the Engine API breakdown (empty: none)")
	flag.DurationVar(&o.cmdTO, "cmd-timeout", 5*time.Minute, "limit for one command")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench: unexpected arguments:", flag.Args())
		return 2
	}
	if o.n < 1 {
		fmt.Fprintln(os.Stderr, "bench: -n must be at least 1")
		return 2
	}
	scs, err := parseScenarios(o.scenarios)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{opts: o, projects: map[string]string{}}
	defer b.cleanup()
	if err := b.prepare(ctx, scs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	b.runAll(ctx, scs)
	b.runSupervisor(ctx)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted; cleaning up")
		return 130
	}
	report := b.report()
	fmt.Print(report)
	if err := os.MkdirAll(filepath.Dir(b.outPath), 0o755); err == nil {
		err = os.WriteFile(b.outPath, []byte(report), 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "bench: wrote", b.outPath)
	} else {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if len(b.res.errors) > 0 {
		return 1
	}
	return 0
}

// tool is one compose implementation under test.
type tool struct {
	name   string   // column name
	engine string   // hoist: native or docker; peers: empty (they use dockerd)
	short  string   // in project names
	argv   []string // command prefix
	quiet  []string // global flags that silence progress output
}

func (t tool) command(ctx context.Context, env []string, file, project string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, t.argv...), "-f", file, "-p", project), t.quiet...)
	argv = append(argv, args...)
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = env
	c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
	c.WaitDelay = 20 * time.Second
	return c
}

type bench struct {
	opts    options
	root    string // repository root
	tmp     string
	outPath string
	env     []string
	tools   []tool // hoist first
	files   map[string]string
	res     *results
	started time.Time
	info    []string // report header lines
	api     *apiSummary
	apiErr  error
	hoist   string // hoist binary
	build   *results
	runRes  *runBench
	// rootlessRes is the rootless scenario's (bench/rootless.go).
	rootlessRes *rootlessBench
	swarm       *swarmBench

	mu       sync.Mutex
	projects map[string]string // project -> engine it lives on (native or docker)
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

// prepare checks the engine and the peers, builds hoist, makes sure the
// images exist and writes the compose files.
func (b *bench) prepare(ctx context.Context, scs []scenario) error {
	b.started = time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	b.root = root
	b.outPath = b.opts.out
	if b.outPath == "" {
		b.outPath = filepath.Join(root, "bench", "results", "latest.md")
	}
	if b.tmp, err = os.MkdirTemp("", "hoist-bench-"); err != nil {
		return err
	}
	b.env = os.Environ()
	if os.Getenv("PYTHON_IMAGE") == "" {
		b.env = append(b.env, "PYTHON_IMAGE=hoist-local/python:3.11-bookworm")
	}
	if os.Getenv("REDIS_IMAGE") == "" {
		b.env = append(b.env, "REDIS_IMAGE=hoist-local/redis:7-bookworm")
	}

	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})").Output(); err != nil {
		return fmt.Errorf("no Docker engine answers (docker version: %v): run scripts/ensure-docker.sh", err)
	} else {
		b.info = append(b.info, "Docker Engine "+strings.TrimSpace(string(out)))
	}

	// hoist
	hoistBin := b.opts.hoist
	if hoistBin == "" {
		hoistBin = filepath.Join(b.tmp, "hoist")
		b.logf("building ./cmd/hoist")
		c := exec.CommandContext(ctx, "go", "build", "-o", hoistBin, "./cmd/hoist")
		c.Dir = root
		c.Env = append(os.Environ(), "CGO_ENABLED=0") // as Taskfile's build
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/hoist: %v\n%s", err, out)
		}
	} else if hoistBin, err = filepath.Abs(hoistBin); err != nil {
		return err
	}
	hv, err := exec.CommandContext(ctx, hoistBin, "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s version: %v: %s", hoistBin, err, hv)
	}
	b.info = append(b.info, "hoist: "+firstLine(string(hv))+" ("+gitRev(root)+")")
	b.hoist = hoistBin
	var hoists []string
	for _, e := range strings.Split(b.opts.engines, ",") {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case e != "native" && e != "docker":
			return fmt.Errorf("-hoist-engines: unknown engine %q (native, docker)", e)
		case slices.Contains(hoists, "hoist "+e):
			continue
		case e == "native" && os.Geteuid() != 0:
			b.logf("not root: leaving the native engine out")
			continue
		}
		b.tools = append(b.tools, tool{name: "hoist " + e, short: "h" + e[:1], engine: e,
			argv: []string{hoistBin, "--engine", e}, quiet: []string{"--progress", "quiet"}})
		hoists = append(hoists, "hoist "+e)
	}
	if len(hoists) == 0 {
		return errors.New("-hoist-engines: no engine to run hoist on")
	}

	// peers
	peers, err := b.findPeers(ctx)
	if err != nil {
		return err
	}
	b.tools = append(b.tools, peers...)
	var peerNames []string
	for _, p := range peers {
		peerNames = append(peerNames, p.name)
	}
	b.res = newResults(hoists, peerNames)

	// images and compose files
	b.files = map[string]string{}
	for _, sc := range scs {
		switch sc.kind {
		case "watch": // bench/watch.go prepares its own copy
			if err := b.checkSampleImages(ctx); err != nil {
				return err
			}
			continue
		case "build": // bench/build.go
			if err := b.checkSampleImages(ctx); err != nil {
				return err
			}
			continue
		case "run", "rootless": // bench/run.go, bench/rootless.go have their own native roots
			continue
		case "swarm": // bench/swarm.go, on the swarm test bed
			continue
		}
		dir := filepath.Join(b.tmp, sc.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		file := filepath.Join(dir, "compose.yaml")
		var data []byte
		switch sc.kind {
		case "sample":
			if err := b.checkSampleImages(ctx); err != nil {
				return err
			}
			src := filepath.Join(root, "samples", "flask-redis")
			raw, err := os.ReadFile(filepath.Join(src, "compose.yaml"))
			if err != nil {
				return err
			}
			if data, err = sampleCompose(raw, sampleWebImage, src); err != nil {
				return err
			}
		default:
			if err := b.ensureBusybox(ctx); err != nil {
				return err
			}
			data = graphCompose(sc.kind, sc.services, busyboxImage)
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			return err
		}
		b.files[sc.name] = file
		// Leftovers of an earlier, killed bench would skew the first run.
		for _, t := range b.tools {
			b.clean(t.dockerd(), b.project(sc, t))
		}
	}
	if slices.ContainsFunc(scs, func(s scenario) bool { return s.kind == "sample" }) {
		if err := b.buildSample(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) findPeers(ctx context.Context) ([]tool, error) {
	dc := tool{name: "docker-compose", short: "dc", argv: []string{"docker-compose"}}
	v2 := tool{name: "docker compose", short: "dcv2", argv: []string{"docker", "compose"}}
	hasV2 := exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil
	var peers []tool
	switch b.opts.peers {
	case "auto", "":
		peers = append(peers, dc)
		if hasV2 {
			peers = append(peers, v2)
		}
	default:
		for _, p := range strings.Split(b.opts.peers, ",") {
			switch strings.Join(strings.Fields(p), " ") {
			case "docker-compose":
				peers = append(peers, dc)
			case "docker compose":
				if !hasV2 {
					return nil, errors.New(`peer "docker compose": the docker compose plugin is not installed`)
				}
				peers = append(peers, v2)
			default:
				return nil, fmt.Errorf("unknown peer %q: use docker-compose or docker compose", p)
			}
		}
	}
	for _, p := range peers {
		if p.name != "docker-compose" {
			out, _ := exec.CommandContext(ctx, "docker", "compose", "version", "--short").Output()
			b.info = append(b.info, "docker compose "+strings.TrimSpace(string(out)))
			continue
		}
		if _, err := exec.LookPath("docker-compose"); err != nil {
			return nil, errors.New("docker-compose is not installed: apt-get install -y docker-compose (or scripts/ensure-docker.sh --bench)")
		}
		out, err := exec.CommandContext(ctx, "docker-compose", "version", "--short").Output()
		if err != nil {
			return nil, fmt.Errorf("docker-compose version: %v", err)
		}
		b.info = append(b.info, "docker-compose "+strings.TrimSpace(string(out)))
	}
	if len(peers) == 0 {
		return nil, errors.New("no peer to compare with")
	}
	return peers, nil
}

func (b *bench) checkSampleImages(ctx context.Context) error {
	for _, k := range []string{"PYTHON_IMAGE", "REDIS_IMAGE"} {
		ref := envValue(b.env, k)
		if exec.CommandContext(ctx, "docker", "image", "inspect", ref).Run() != nil {
			return fmt.Errorf("sample image %s (%s) is missing: run samples/images/load.sh (go tool task images), or leave sample out of -scenarios", ref, k)
		}
		if b.hasNative() && !b.nativeHasImage(ctx, ref) {
			return fmt.Errorf("sample image %s (%s) is missing from the native engine: run HOIST_ENGINE=native HOIST_BIN=%s samples/images/load.sh, or leave the sample out of -scenarios (or native out of -hoist-engines)", ref, k, b.hoist)
		}
	}
	return nil
}

func (b *bench) hasNative() bool {
	return slices.ContainsFunc(b.tools, func(t tool) bool { return t.engine == "native" })
}

// hasTool reports whether name is one of the columns.
func (b *bench) hasTool(name string) bool {
	return slices.ContainsFunc(b.tools, func(t tool) bool { return t.name == name })
}

func (b *bench) nativeHasImage(ctx context.Context, ref string) bool {
	return exec.CommandContext(ctx, b.hoist, "--engine", "native", "image", "inspect", ref).Run() == nil
}

// ensureBusybox imports the busybox test image into dockerd and, when hoist
// runs on it, the native engine, where they lack it.
func (b *bench) ensureBusybox(ctx context.Context) error {
	if b.hasNative() && !b.nativeHasImage(ctx, busyboxImage) {
		fmt.Fprintln(os.Stderr, "bench: importing", busyboxImage, "into the native engine")
		tar := filepath.Join(b.tmp, "busybox.tar")
		if err := writeBusyboxTar(tar); err != nil {
			return err
		}
		c := exec.CommandContext(ctx, b.hoist, "--engine", "native", "image", "import", "--change", `CMD ["sh"]`, tar, busyboxImage)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("native image import %s: %v: %s", busyboxImage, err, out)
		}
	}
	if exec.CommandContext(ctx, "docker", "image", "inspect", busyboxImage).Run() == nil {
		return nil
	}
	fmt.Fprintln(os.Stderr, "bench: importing", busyboxImage)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(testimage.WriteRootfs(pw)) }()
	c := exec.CommandContext(ctx, "docker", "import", "--change", `CMD ["sh"]`, "-", busyboxImage)
	c.Stdin = pr
	out, err := c.CombinedOutput()
	pr.Close()
	if err != nil {
		return fmt.Errorf("docker import %s: %v: %s", busyboxImage, err, out)
	}
	return nil
}

// buildSample builds the sample's web image once, with hoist, so that
// neither tool builds during the timed runs.
func (b *bench) buildSample(ctx context.Context) error {
	if err := portsFree(); err != nil {
		return err
	}
	for _, h := range b.tools {
		if h.engine == "" {
			continue
		}
		project := "hbench-sample-build-" + h.short
		b.track(project, h.engine)
		start := time.Now()
		b.logf("building %s with %s (up -d --build, then down)", sampleWebImage, h.name)
		if _, err := b.timed(ctx, h, b.files["sample"], project, "up", "-d", "--build"); err != nil {
			b.clean(h.engine, project)
			return fmt.Errorf("build the sample with %s: %w", h.name, err)
		}
		if _, err := b.timed(ctx, h, b.files["sample"], project, "down"); err != nil {
			b.clean(h.engine, project)
			return fmt.Errorf("sample build project: %w", err)
		}
		b.clean(h.engine, project)
		b.logf("sample image ready in %.1fs", time.Since(start).Seconds())
	}
	return nil
}

// dockerd is the engine the tool's containers live on.
func (t tool) dockerd() string {
	if t.engine == "native" {
		return "native"
	}
	return "docker"
}

func (b *bench) project(sc scenario, t tool) string { return "hbench-" + sc.name + "-" + t.short }

func (b *bench) track(p, engine string) {
	b.mu.Lock()
	b.projects[p] = engine
	b.mu.Unlock()
}

func (b *bench) runs(sc scenario) int {
	if sc.kind != "sample" && sc.services > 20 && b.opts.nLarge > 0 {
		return min(b.opts.n, b.opts.nLarge)
	}
	return b.opts.n
}

func (b *bench) runAll(ctx context.Context, scs []scenario) {
	for _, sc := range scs {
		if ctx.Err() != nil {
			return
		}
		switch sc.kind {
		case "watch":
			b.runWatchScenario(ctx, sc)
			continue
		case "build":
			b.runBuildScenario(ctx)
			continue
		case "rootless":
			b.rootlessRes = b.runRootlessScenario(ctx, b.hoist)
			if b.rootlessRes.err != nil {
				msg := fmt.Sprintf("rootless: %v", b.rootlessRes.err)
				b.logf("ERROR %s", msg)
				b.res.errors = append(b.res.errors, msg)
			}
			continue
		case "run":
			b.runRes = b.runRunScenario(ctx, b.hoist)
			if b.runRes.err != nil {
				msg := fmt.Sprintf("run: %v", b.runRes.err)
				b.logf("ERROR %s", msg)
				b.res.errors = append(b.res.errors, msg)
			}
			continue
		case "swarm":
			b.swarm = b.runSwarmScenario(ctx)
			if b.swarm.err != nil {
				msg := fmt.Sprintf("swarm: %v", b.swarm.err)
				b.logf("ERROR %s", msg)
				b.res.errors = append(b.res.errors, msg)
			}
			continue
		}
		n := b.runs(sc)
		for i := 0; i < n; i++ {
			// Alternate who goes first, so drift in the engine's state
			// does not always favour the same tool.
			order := slices.Clone(b.tools)
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				if ctx.Err() != nil {
					return
				}
				if err := b.runOnce(ctx, sc, t, i, n); err != nil {
					msg := fmt.Sprintf("%s run %d, %s: %v", sc.name, i+1, t.name, err)
					b.logf("ERROR %s", msg)
					b.res.errors = append(b.res.errors, msg)
				}
			}
		}
		if sc.name == b.opts.api && ctx.Err() == nil {
			s, err := b.apiBreakdown(ctx, sc)
			if err != nil {
				b.apiErr = err
				b.logf("ERROR API breakdown: %v", err)
			} else {
				b.api = &s
			}
		}
	}
}

// runOnce times up -d, a no-op up -d and down for one tool, and for the
// sample also the time until the web app answers.
func (b *bench) runOnce(ctx context.Context, sc scenario, t tool, i, n int) error {
	project := b.project(sc, t)
	file := b.files[sc.name]
	b.track(project, t.dockerd())
	defer func() {
		// A failed run must not leak into the next one.
		if b.leftoversOn(t.dockerd(), project) > 0 {
			b.clean(t.dockerd(), project)
		}
	}()
	sample := sc.kind == "sample"
	var ready <-chan time.Duration
	var stopPoll context.CancelFunc = func() {}
	if sample {
		if err := portsFree(); err != nil {
			return err
		}
	}
	start := time.Now()
	if sample {
		var pctx context.Context
		pctx, stopPoll = context.WithTimeout(ctx, 2*time.Minute)
		ready = pollHTTP(pctx, "http://127.0.0.1:5001/", start)
	}
	defer stopPoll()
	up, err := b.run(ctx, t, file, project, start, "up", "-d")
	if err != nil {
		return fmt.Errorf("up -d: %w", err)
	}
	b.res.add(sc.name, opUp, t.name, up)
	line := fmt.Sprintf("%s %d/%d %-14s up %s", sc.name, i+1, n, t.name, fmtSecs(up.Seconds()))
	if sample {
		d := <-ready
		if d < 0 {
			return errors.New("127.0.0.1:5001 did not answer 200 within 2 minutes of up -d")
		}
		b.res.add(sc.name, opReady, t.name, d)
		line += ", answers " + fmtSecs(d.Seconds())
	}
	noop, err := b.timed(ctx, t, file, project, "up", "-d")
	if err != nil {
		return fmt.Errorf("no-op up -d: %w", err)
	}
	b.res.add(sc.name, opNoop, t.name, noop)
	down, err := b.timed(ctx, t, file, project, "down")
	if err != nil {
		return fmt.Errorf("down: %w", err)
	}
	b.res.add(sc.name, opDown, t.name, down)
	b.logf("%s, no-op %s, down %s", line, fmtSecs(noop.Seconds()), fmtSecs(down.Seconds()))
	if t.engine == "native" {
		if left := b.nativeLeftovers(project); left > 0 {
			return fmt.Errorf("down left %d containers (or %s)", left, nativeRunDir(project))
		}
		return nil
	}
	if left := b.leftovers(project); left > 0 {
		return fmt.Errorf("down left %d containers", left)
	}
	if nets := b.networks(project); len(nets) > 0 {
		return fmt.Errorf("down left networks %s", strings.Join(nets, ", "))
	}
	return nil
}

// timed runs one compose command and returns its wall time.
func (b *bench) timed(ctx context.Context, t tool, file, project string, args ...string) (time.Duration, error) {
	return b.run(ctx, t, file, project, time.Now(), args...)
}

// run runs one command, timing it from start (just before the fork), with
// the default environment.
func (b *bench) run(ctx context.Context, t tool, file, project string, start time.Time, args ...string) (time.Duration, error) {
	return b.runEnv(ctx, b.env, t, file, project, start, args...)
}

func (b *bench) runEnv(ctx context.Context, env []string, t tool, file, project string, start time.Time, args ...string) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, b.opts.cmdTO)
	defer cancel()
	c := t.command(cctx, env, file, project, args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		return 0, err
	}
	err := c.Wait()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s %s: %v\n%s", t.name, strings.Join(args, " "), err, tail(out.String(), 15))
	}
	return d, nil
}

// apiBreakdown runs hoist's up -d once more through a logging proxy to the
// engine socket and summarizes where its wall time went.
func (b *bench) apiBreakdown(ctx context.Context, sc scenario) (apiSummary, error) {
	upstream := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			return apiSummary{}, fmt.Errorf("DOCKER_HOST=%s: the API breakdown needs a unix socket", h)
		}
		upstream = p
	}
	sock := filepath.Join(b.tmp, "docker.sock")
	p, err := startAPIProxy(sock, upstream)
	if err != nil {
		return apiSummary{}, err
	}
	defer p.close()
	env := append(withoutEnv(b.env, "DOCKER_HOST"), "DOCKER_HOST=unix://"+sock)
	i := slices.IndexFunc(b.tools, func(t tool) bool { return t.engine == "docker" })
	if i < 0 {
		return apiSummary{}, errors.New("hoist does not run on the docker engine (-hoist-engines)")
	}
	h := b.tools[i]
	project := b.project(sc, h)
	b.track(project, "docker")
	defer func() {
		if b.leftovers(project) > 0 {
			b.forceClean(project)
		}
	}()
	start := time.Now()
	_, err = b.runEnv(ctx, env, h, b.files[sc.name], project, start, "up", "-d")
	end := time.Now()
	calls := p.take()
	if err != nil {
		return apiSummary{}, err
	}
	s := summarize(calls, start, end)
	b.logf("API breakdown of %s hoist up -d: %d calls, in flight %.0f%% of %.2fs", sc.name, s.calls, 100*safeDiv(s.union, s.wall), s.wall.Seconds())
	if _, err := b.timed(ctx, h, b.files[sc.name], project, "down"); err != nil {
		return s, fmt.Errorf("down after the API breakdown: %w", err)
	}
	return s, nil
}

// leftovers counts the project's containers.
func (b *bench) leftovers(project string) int {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+project).Output()
	if err != nil {
		return 0
	}
	return len(strings.Fields(string(out)))
}

func (b *bench) networks(project string) []string {
	out, err := exec.Command("docker", "network", "ls", "--format", "{{.Name}}", "--filter", "label=com.docker.compose.project="+project).Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

// forceClean removes the project's containers, networks and volumes,
// without either tool: it must work whatever state a run left.
func (b *bench) forceClean(project string) {
	filter := "label=com.docker.compose.project=" + project
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, _ := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", filter).Output(); len(strings.Fields(string(out))) > 0 {
		_ = exec.CommandContext(ctx, "docker", append([]string{"rm", "-f", "-v"}, strings.Fields(string(out))...)...).Run()
	}
	if out, _ := exec.CommandContext(ctx, "docker", "network", "ls", "-q", "--filter", filter).Output(); len(strings.Fields(string(out))) > 0 {
		_ = exec.CommandContext(ctx, "docker", append([]string{"network", "rm"}, strings.Fields(string(out))...)...).Run()
	}
	if out, _ := exec.CommandContext(ctx, "docker", "volume", "ls", "-q", "--filter", filter).Output(); len(strings.Fields(string(out))) > 0 {
		_ = exec.CommandContext(ctx, "docker", append([]string{"volume", "rm", "-f"}, strings.Fields(string(out))...)...).Run()
	}
}

// cleanup removes every project the bench touched and its temporary files.
func (b *bench) cleanup() {
	b.mu.Lock()
	ps := make([]string, 0, len(b.projects))
	for p := range b.projects {
		ps = append(ps, p)
	}
	engines := maps.Clone(b.projects)
	b.mu.Unlock()
	sort.Strings(ps)
	for _, p := range ps {
		if b.leftoversOn(engines[p], p) > 0 || (engines[p] == "docker" && len(b.networks(p)) > 0) {
			b.logf("removing leftovers of %s (%s engine)", p, engines[p])
			b.clean(engines[p], p)
		}
	}
	b.cleanBuilds()
	b.cleanRun()
	if b.tmp != "" {
		_ = os.RemoveAll(b.tmp)
	}
}

func (b *bench) report() string {
	var s strings.Builder
	fmt.Fprintf(&s, "# hoist bench, %s\n\n", b.started.Format("2006-01-02 15:04 MST"))
	for _, l := range b.info {
		fmt.Fprintf(&s, "- %s\n", l)
	}
	fmt.Fprintf(&s, "- %d CPUs, load average at start %s, at end %s; bench took %s\n",
		runtime.NumCPU(), b.loadStart(), loadAvg(), time.Since(b.started).Round(time.Second))
	fmt.Fprintf(&s, "- wall time of each command process, median of n runs; ratio < 1 means hoist is faster\n\n")
	s.WriteString(b.res.table())
	s.WriteString(b.buildReport())
	s.WriteString(b.runRes.report())
	s.WriteString(b.rootlessRes.report())
	s.WriteString(b.swarm.report())
	s.WriteString(b.watchReport())
	s.WriteString(supReport())
	if len(b.res.errors) > 0 {
		s.WriteString("\n## Errors\n\n")
		for _, e := range b.res.errors {
			fmt.Fprintf(&s, "- %s\n", strings.ReplaceAll(strings.TrimSpace(e), "\n", "\n  "))
		}
	}
	if b.api != nil {
		fmt.Fprintf(&s, "\n## Engine API time of hoist `up -d`, %s (one extra run through a logging proxy)\n\n", b.opts.api)
		s.WriteString(b.api.table())
	} else if b.apiErr != nil {
		fmt.Fprintf(&s, "\n## Engine API breakdown failed\n\n%v\n", b.apiErr)
	}
	s.WriteString("\n## Raw samples (s)\n\n")
	s.WriteString(b.res.raw())
	if b.build != nil {
		s.WriteString(b.build.raw())
	}
	s.WriteString(b.runRes.raw())
	return s.String()
}

var startLoad = loadAvg()

func (b *bench) loadStart() string { return startLoad }

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// pollHTTP sends the time from start until url first answers 200, or -1.
func pollHTTP(ctx context.Context, url string, start time.Time) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ch <- time.Since(start)
					return
				}
			}
			select {
			case <-ctx.Done():
				ch <- -1
				return
			case <-time.After(25 * time.Millisecond):
			}
		}
	}()
	return ch
}

// portsFree fails when something already listens on the sample's ports.
func portsFree() error {
	for _, p := range []string{"5001", "6379"} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+p, 300*time.Millisecond); err == nil {
			c.Close()
			return fmt.Errorf("127.0.0.1:%s is already in use (another sample running? hoist down / docker ps)", p)
		}
	}
	return nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/hoist-dev/hoist\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the bench inside the hoist repository (go run ./bench)")
		}
		dir = parent
	}
}

func gitRev(root string) string {
	c := exec.Command("git", "describe", "--always", "--dirty")
	c.Dir = root
	out, err := c.Output()
	if err != nil {
		return "unknown revision"
	}
	return "git " + strings.TrimSpace(string(out))
}

func envValue(env []string, k string) string {
	v := ""
	for _, kv := range env {
		if x, ok := strings.CutPrefix(kv, k+"="); ok {
			v = x
		}
	}
	return v
}

func withoutEnv(env []string, k string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
