package escape

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hoist-dev/hoist/internal/testengine"
)

// outcome is one line of the probe (probe/main.go's result).
type outcome struct {
	Case    string `json:"case"`
	Outcome string `json:"outcome"`
	Errno   string `json:"errno,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

func (o outcome) String() string {
	if o.Outcome == "" {
		return "(no result)"
	}
	s := o.Outcome
	if o.Errno != "" {
		s += " " + o.Errno
	}
	return s
}

// engineRun is what one engine gave: the outcomes per way and case, and
// what was found on the host.
type engineRun struct {
	engine  string
	results map[way]map[string]outcome
	// host lists what an attempt changed or reached on the host: a
	// failure whatever the other engine did.
	host []string
}

// TestEscapeBattery runs every case of escapeCases from every way on
// both engines (in parallel: they share nothing but the CPU) and then
// compares them case by case.
func TestEscapeBattery(t *testing.T) {
	needEngines(t)
	runs := map[string]*engineRun{}
	var mu sync.Mutex
	t.Run("engines", func(t *testing.T) {
		for _, engine := range engines {
			t.Run(engine, func(t *testing.T) {
				t.Parallel()
				r := runBattery(t, engine)
				mu.Lock()
				runs[engine] = r
				mu.Unlock()
			})
		}
	})
	docker, native := runs["docker"], runs["native"]
	if docker == nil || native == nil {
		t.Fatal("an engine's run did not finish")
	}
	t.Log("\n" + report(docker, native))
	for _, r := range []*engineRun{docker, native} {
		t.Run("host/"+r.engine, func(t *testing.T) {
			for _, h := range r.host {
				t.Error(h)
			}
		})
	}
	for _, c := range escapeCases {
		for _, w := range c.ways {
			t.Run(c.name+"/"+string(w), func(t *testing.T) {
				compare(t, c, docker.results[w][c.name], native.results[w][c.name])
			})
		}
	}
}

// compare holds native to docker on one case and way.
func compare(t *testing.T, c escapeCase, d, n outcome) {
	for _, x := range []struct {
		engine string
		o      outcome
	}{{"docker", d}, {"native", n}} {
		switch {
		case x.o.Outcome == "":
			t.Errorf("%s: no result", x.engine)
		case x.o.Outcome != "allowed" && x.o.Outcome != "denied":
			t.Errorf("%s: the probe failed: %s", x.engine, x.o.Detail)
		case c.control && x.o.Outcome != "allowed":
			t.Errorf("%s: denied (%s), but this control must be allowed on both engines: the probe or the setup is broken", x.engine, x.o.Detail)
		case c.want != "" && (x.o.Outcome != "denied" || x.o.Errno != c.want):
			t.Errorf("%s: %s (%s), want denied with %s", x.engine, x.o, x.o.Detail, c.want)
		}
	}
	if d.Outcome == "denied" && n.Outcome == "allowed" {
		t.Errorf("native allows what docker denies: docker %s (%s); native %s (%s)", d, d.Detail, n, n.Detail)
	}
	if c.equal && d.Outcome != n.Outcome {
		t.Errorf("native must match docker here (compatibility): docker %s (%s); native %s (%s)", d, d.Detail, n, n.Detail)
	}
	if c.nativeDeny && n.Outcome != "denied" {
		t.Errorf("native must deny: %s (%s); docker (recorded only): %s (%s)", n, n.Detail, d, d.Detail)
	}
}

// report is a table of every case and way: docker's outcome, native's.
func report(docker, native *engineRun) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tway\tdocker\tnative\t")
	for _, c := range escapeCases {
		for _, w := range c.ways {
			d, n := docker.results[w][c.name], native.results[w][c.name]
			mark := ""
			if d.Outcome == "denied" && n.Outcome == "allowed" || c.equal && d.Outcome != n.Outcome || c.nativeDeny && n.Outcome != "denied" {
				mark = "  <-- native weaker"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.name, w, d, n, mark)
		}
	}
	tw.Flush()
	return b.String()
}

// battery is one engine's run: its directory, the projects and what the
// probe gets from the test.
type battery struct {
	t       *testing.T
	engine  string
	dir     string
	results string // shared with the containers as /results
	nonce   string
	loop    *loopDevice
	peer    string  // IP:PORT of the other project's container
	hostlo  *hostLo // a listener on the host's 127.0.0.1
	p       *project
	run     *engineRun
}

func runBattery(t *testing.T, engine string) *engineRun {
	dir := t.TempDir()
	b := &battery{
		t: t, engine: engine, dir: dir,
		results: filepath.Join(dir, "results"),
		nonce:   randHex(4),
		run:     &engineRun{engine: engine, results: map[way]map[string]outcome{}},
	}
	if err := os.Mkdir(b.results, 0o777); err != nil {
		t.Fatal(err)
	}
	b.loop = attachLoop(t, dir)
	before := initBinaries()
	nodesBefore := hostNodes()

	b.startPeer()
	hl, err := startHostLo()
	if err != nil {
		t.Fatal(err)
	}
	defer hl.close()
	b.hostlo = hl
	b.p = newProject(t, engine, filepath.Join(dir, "p"), "esc")
	b.writeProject()

	start := time.Now()
	b.service()
	b.viaTerminal(wExec, "exec", "-T", "box")
	b.viaTerminal(wExecTTY, "exec", "box")
	b.viaTerminal(wRun, "run", "--rm", "-T", "box")
	b.hostnetExec()
	b.build()
	t.Logf("%s: the ways took %v", engine, time.Since(start).Round(100*time.Millisecond))

	// The host side.
	if d := b.loop.unchanged(); d != "" {
		b.hostFailure("%s", d)
	}
	for _, w := range hl.reachedFrom(b) {
		if w != wHostnet && w != wHostnetExec {
			b.hostFailure("tcp_hostlo from %s: the host's 127.0.0.1 listener was reached", w)
		}
	}
	if now := hostNodes(); now != nodesBefore {
		b.hostFailure("the host's device nodes changed during the attempts: %s, were %s", now, nodesBefore)
	}
	after := initBinaries()
	for f, h := range before {
		// hoist removes the init copies of other versions when it makes
		// its own: another hoist on this machine may have, meanwhile.
		if a, listed := after[f]; (!listed || a == "missing") && strings.HasPrefix(f, "/var/lib/hoist/init/") {
			continue
		}
		if after[f] != h {
			b.hostFailure("%s changed during the attempts (sha256 %s, was %s)", f, after[f], h)
		}
	}
	for w, res := range b.run.results {
		for _, o := range res {
			if strings.Contains(o.Detail, b.loop.secret) {
				b.hostFailure("%s from %s: the host loop device's secret reached the container: %s", o.Case, w, o.Detail)
			}
			if strings.Contains(o.Detail, "OPEN FOR WRITING") {
				b.hostFailure("%s from %s: %s", o.Case, w, o.Detail)
			}
		}
	}
	return b.run
}

func (b *battery) hostFailure(format string, args ...any) {
	b.run.host = append(b.run.host, fmt.Sprintf(format, args...))
}

// wayNonce marks a way's terminal bytes and background processes.
func (b *battery) wayNonce(w way) string { return b.nonce + "." + string(w) }

// probeArgs are the probe's command line for w: its flags and cases.
func (b *battery) probeArgs(w way, out string, extra ...string) []string {
	args := []string{"/probe", "-o", out,
		"-nonce", b.wayNonce(w),
		"-loop", b.loop.majMin,
		"-peer", b.peer,
		"-hostlo", b.hostlo.addr(),
		"-sup", "/run/hoist/" + b.p.name + "/supervisor.sock",
		"-go", "/results/go-" + string(w),
		"-cap", "/results/cap-" + string(w) + ".txt",
	}
	args = append(args, extra...)
	return append(args, casesFor(w)...)
}

func (b *battery) volumes() []string {
	return []string{env.probeBin + ":/probe:ro", b.results + ":/results"}
}

// startPeer brings up the other project: one container serving TCP,
// whose address the traffic cases aim at.
func (b *battery) startPeer() {
	t := b.t
	q := newProject(t, b.engine, filepath.Join(b.dir, "q"), "esc-peer")
	writeJSON(t, filepath.Join(q.dir, "compose.yaml"), map[string]any{
		"services": map[string]any{
			"peer": map[string]any{
				"image":   testImage,
				"volumes": b.volumes(),
				"command": []string{"/probe", "serve", "-o", "/results/peer.jsonl", "-port", "8099"},
			},
		},
	})
	q.hoist("up", "-d")
	var res map[string]outcome
	if !waitFor(60*time.Second, func() bool {
		res = readResults(filepath.Join(b.results, "peer.jsonl"))
		return res["_listening"].Outcome != ""
	}) {
		t.Fatalf("%s: the peer did not start listening", b.engine)
	}
	l := res["_listening"]
	if l.Outcome != "allowed" || l.Detail == "" {
		t.Fatalf("%s: the peer: %s", b.engine, l.Detail)
	}
	// Without this, a denial of tcp_peer could be a peer that does not
	// answer at all.
	if s := res["_selftest"]; s.Outcome != "allowed" {
		t.Fatalf("%s: the peer cannot reach itself: %s", b.engine, s.Detail)
	}
	ip, _, _ := strings.Cut(l.Detail, ",")
	b.peer = ip + ":8099"
}

const testImage = testengine.TestImage

// writeProject writes the project's compose file and build context.
func (b *battery) writeProject() {
	t := b.t
	probeOf := func(w way) []string {
		return b.probeArgs(w, "/results/"+string(w)+".jsonl", "-stay")
	}
	writeJSON(t, filepath.Join(b.p.dir, "compose.yaml"), map[string]any{
		"services": map[string]any{
			"box": map[string]any{
				"image":   testImage,
				"init":    true,
				"tmpfs":   []string{"/scratch"},
				"volumes": b.volumes(),
				"command": probeOf(wService),
			},
			"hostnet": map[string]any{
				"image":        testImage,
				"network_mode": "host",
				"volumes":      b.volumes(),
				"command":      probeOf(wHostnet),
			},
			"built": map[string]any{
				"build": map[string]any{"context": "./build"},
			},
		},
	})
	// The RUN step's line holds the nonce, so no layer cache answers it.
	run, err := json.Marshal(b.probeArgs(wBuild, "/results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := filepath.Join(b.p.dir, "build")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	dockerfile := fmt.Sprintf("FROM %s\nCOPY probe /probe\nRUN %s\n", testImage, run)
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	probe, err := os.ReadFile(env.probeBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "probe"), probe, 0o755); err != nil {
		t.Fatal(err)
	}
}

// service: up -d from the user's terminal; the services' commands are
// the probe. hoist has returned once up -d has, so the background
// reader is judged then.
func (b *battery) service() {
	tm := newTerminal(b.t)
	if err := tm.run(b.p, nil, "up", "-d", "box", "hostnet"); err != nil {
		b.t.Errorf("%s: %v", b.engine, err)
		return
	}
	for _, w := range []way{wService, wHostnet} {
		path := filepath.Join(b.results, string(w)+".jsonl")
		if !waitFor(90*time.Second, func() bool { _, ok := readResults(path)["_done"]; return ok }) {
			b.t.Errorf("%s: %s: the probe did not finish: %s", b.engine, w, readFile(path))
		}
		b.collect(w, path)
	}
	b.judgeTerminal(tm, wService)
}

// viaTerminal runs hoist ARGS /probe... from the user's terminal.
func (b *battery) viaTerminal(w way, args ...string) {
	tm := newTerminal(b.t)
	path := filepath.Join(b.results, string(w)+".jsonl")
	done := func() bool { _, ok := readResults(path)["_done"]; return ok }
	if err := tm.run(b.p, done, append(args, b.probeArgs(w, "/results/"+string(w)+".jsonl")...)...); err != nil {
		b.t.Errorf("%s: %s: %v", b.engine, w, err)
	}
	b.collect(w, path)
	b.judgeTerminal(tm, w)
}

func (b *battery) hostnetExec() {
	w := wHostnetExec
	if _, err := b.p.try(append([]string{"exec", "-T", "hostnet"}, b.probeArgs(w, "/results/"+string(w)+".jsonl")...)...); err != nil {
		b.t.Errorf("%s: %s: %v", b.engine, w, err)
	}
	b.collect(w, filepath.Join(b.results, string(w)+".jsonl"))
}

// build: hoist build from the user's terminal, then the RUN step's
// results from a container of the image.
func (b *battery) build() {
	tm := newTerminal(b.t)
	if err := tm.run(b.p, nil, "build", "built"); err != nil {
		b.t.Errorf("%s: build: %v", b.engine, err)
		return
	}
	b.judgeTerminal(tm, wBuild)
	out, err := b.p.try("run", "--rm", "-T", "built", "cat", "/results.jsonl")
	if err != nil {
		b.t.Errorf("%s: build: read the RUN step's results: %v", b.engine, err)
		return
	}
	path := filepath.Join(b.dir, "build.jsonl")
	os.WriteFile(path, []byte(out), 0o644)
	b.collect(wBuild, path)
}

// collect reads a way's results file.
func (b *battery) collect(w way, path string) {
	res := readResults(path)
	if _, ok := res["_done"]; !ok {
		b.t.Errorf("%s: %s: the probe's results are incomplete:\n%s", b.engine, w, readFile(path))
	}
	b.run.results[w] = res
}

// judgeTerminal runs once hoist has returned from w: it types a marker
// into the terminal as the user would, tells the background reader (if
// w has one) that hoist is gone, waits for it to finish or be gone, and
// then reads what waits in the terminal's input. The reader's verdict is
// bg_read's outcome; a pushed byte in the terminal's input is a host
// failure on any engine.
func (b *battery) judgeTerminal(tm *terminal, w way) {
	nonce := b.wayNonce(w)
	typed := "HOISTTYPED-" + nonce + "\r"
	var capture string
	if hasWay(bgWays, w) {
		tm.typeIn(typed)
		capPath := filepath.Join(b.results, "cap-"+string(w)+".txt")
		if err := os.WriteFile(filepath.Join(b.results, "go-"+string(w)), nil, 0o644); err != nil {
			b.t.Fatal(err)
		}
		ended := waitFor(30*time.Second, func() bool {
			return strings.Contains(readFile(capPath), "\nend\n") || !processAlive("bgchild", "cap-"+string(w)+".txt", nonce)
		})
		if !ended {
			b.t.Errorf("%s: %s: the background reader neither ended nor went away in 30s", b.engine, w)
		}
		capture = readFile(capPath)
	}
	pending := tm.pendingInput()
	if strings.Contains(pending, "HOISTSTI-") {
		b.hostFailure("%s: bytes pushed with TIOCSTI from the container reached the user's terminal after hoist returned: %q", w, pending)
	}
	if !hasWay(bgWays, w) {
		return
	}
	o := outcome{Case: "bg_read", Outcome: "denied", Detail: fmt.Sprintf("capture %q; terminal input %q", capture, pending)}
	if strings.Contains(capture, "HOISTTYPED-"+nonce) || strings.Contains(pending, "HOISTSTI-"+nonce+"-late") {
		o.Outcome = "allowed"
		b.hostFailure("%s: a process left in the container read or typed into the user's terminal after hoist returned: %s", w, o.Detail)
	}
	if b.run.results[w] == nil {
		b.run.results[w] = map[string]outcome{}
	}
	b.run.results[w]["bg_read"] = o
	b.t.Logf("%s: %s: bg_read: %s: %s", b.engine, w, o.Outcome, o.Detail)
}

// processAlive tells whether a host process's command line holds all
// of subs (the background reader: bgchild, its capture file, the nonce).
func processAlive(subs ...string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		all := true
		for _, s := range subs {
			all = all && bytes.Contains(data, []byte(s))
		}
		if all {
			return true
		}
	}
	return false
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// readResults decodes a probe's JSON lines by case; a later line of a
// case wins.
func readResults(path string) map[string]outcome {
	res := map[string]outcome{}
	f, err := os.Open(path)
	if err != nil {
		return res
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var o outcome
		if json.Unmarshal(sc.Bytes(), &o) == nil && o.Case != "" {
			res[o.Case] = o
		}
	}
	return res
}

// hostNodes are the mode and owner of the host's /dev/null and /dev/zero.
func hostNodes() string {
	var out []string
	for _, p := range []string{"/dev/null", "/dev/zero"} {
		fi, err := os.Stat(p)
		if err != nil {
			out = append(out, p+": "+err.Error())
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		out = append(out, fmt.Sprintf("%s %o %d:%d", p, fi.Mode().Perm(), st.Uid, st.Gid))
	}
	return strings.Join(out, ", ")
}
