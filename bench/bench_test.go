package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/compose"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{3}, 3, true},
		{[]float64{5, 1, 3}, 3, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
	} {
		got, ok := median(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Errorf("median sorted its input in place: %v", in)
	}
}

func TestParseScenarios(t *testing.T) {
	scs, err := parseScenarios("sample, fan20,chain50,fan20")
	if err != nil {
		t.Fatal(err)
	}
	want := []scenario{{"sample", "sample", 0}, {"fan20", "fan", 20}, {"chain50", "chain", 50}}
	if len(scs) != len(want) {
		t.Fatalf("got %v, want %v", scs, want)
	}
	for i := range want {
		if scs[i] != want[i] {
			t.Errorf("scenario %d = %v, want %v", i, scs[i], want[i])
		}
	}
	for _, bad := range []string{"", "fan", "fan1", "tree20", "chain9999"} {
		if _, err := parseScenarios(bad); err == nil {
			t.Errorf("parseScenarios(%q) accepted", bad)
		}
	}
}

func TestTable(t *testing.T) {
	r := newResults([]string{toolNative, toolDocker}, []string{peerDC})
	for _, d := range []float64{7, 6, 8} {
		r.add("fan20", opUp, toolDocker, time.Duration(d*float64(time.Second)))
	}
	for _, d := range []float64{0.9, 0.8} {
		r.add("fan20", opUp, toolNative, time.Duration(d*float64(time.Second)))
	}
	for _, d := range []float64{10, 12, 9} {
		r.add("fan20", opUp, peerDC, time.Duration(d*float64(time.Second)))
	}
	r.add("fan20", opNoop, toolDocker, 120*time.Millisecond)
	r.add("fan20", opDown, toolNative, 600*time.Millisecond)
	r.add("fan50", opNoop, toolDocker, 200*time.Millisecond)
	r.add("fan50", opNoop, peerDC, 2*time.Second)
	got := r.table()
	want := `| scenario | operation   |   n | hoist native (s) | hoist docker (s) | docker-compose (s) | ratio native/docker-compose | ratio docker/docker-compose | goal                                                         |
| -------- | ----------- | --: | ---------------: | ---------------: | -----------------: | --------------------------: | --------------------------: | ------------------------------------------------------------ |
| fan20    | up -d       |   3 |            0.850 |             7.00 |               10.0 |                        0.09 |                        0.70 | docker ratio ≤ 0.70: met (0.70); native < 1 s: met (0.850 s) |
| fan20    | no-op up -d |   1 |                – |            0.120 |                  – |                           – |                           – |                                                              |
| fan20    | down        |   1 |            0.600 |                – |                  – |                           – |                           – | native < 0.5 s: **missed** (0.600 s)                         |
| fan50    | no-op up -d |   1 |                – |            0.200 |               2.00 |                           – |                        0.10 | docker < 0.15 s: **missed** (0.200 s)                        |
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if raw := r.raw(); !strings.Contains(raw, "- fan20 / up -d / hoist docker: 7.00, 6.00, 8.00\n") {
		t.Errorf("raw samples:\n%s", raw)
	}
}

func TestBuildTable(t *testing.T) {
	r := newResults([]string{toolNative}, []string{toolDocker})
	r.ops = buildOps
	r.add("build", opRebuild, toolNative, 300*time.Millisecond)
	r.add("build", opRebuild, toolDocker, 2*time.Second)
	r.add("build", opNoChange, toolNative, 250*time.Millisecond)
	got := r.table()
	for _, w := range []string{"ratio native/hoist docker", "native ≤ 0.5× docker: met (0.15)", "native < 0.2 s: **missed** (0.250 s)"} {
		if !strings.Contains(got, w) {
			t.Errorf("build table lacks %q:\n%s", w, got)
		}
	}
}

func TestBuildCompose(t *testing.T) {
	got := buildCompose("py:1")
	for _, w := range []string{"image: \"" + buildImage + "\"", "PYTHON_IMAGE: \"py:1\"", "context: ."} {
		if !strings.Contains(got, w) {
			t.Errorf("buildCompose lacks %q:\n%s", w, got)
		}
	}
}

func TestNormalizeEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"/v1.41/containers/json":                       "/containers/json",
		"/v1.41/containers/create":                     "/containers/create",
		"/v1.41/containers/3f2a9c/start":               "/containers/{id}/start",
		"/v1.41/containers/3f2a9c/json":                "/containers/{id}/json",
		"/v1.41/containers/3f2a9c":                     "/containers/{id}",
		"/v1.41/networks/proj_default":                 "/networks/{id}",
		"/v1.41/networks/create":                       "/networks/create",
		"/v1.41/images/hoist-test/busybox:latest/json": "/images/{name}/json",
		"/v1.41/images/json":                           "/images/json",
		"/v1.41/exec/abc/start":                        "/exec/{id}/start",
		"/_ping":                                       "/_ping",
		"/v1.41/events":                                "/events",
		"/v1.41/distribution/docker.io/library/x/json": "/distribution/{name}/json",
	} {
		if got := normalizeEndpoint(in); got != want {
			t.Errorf("normalizeEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	calls := []apiCall{
		{endpoint: "POST /containers/create", start: at(100), end: at(200)},
		{endpoint: "POST /containers/create", start: at(150), end: at(300)},
		{endpoint: "POST /containers/{id}/start", start: at(250), end: at(600)},
		{endpoint: "POST /containers/{id}/start", start: at(700), end: at(800), status: 500},
		{endpoint: "GET /events", start: at(50), end: at(950)},
	}
	s := summarize(calls, t0, at(1000))
	if s.wall != time.Second || s.union != 600*time.Millisecond || s.sum != 700*time.Millisecond {
		t.Errorf("wall %v union %v sum %v; want 1s 600ms 700ms", s.wall, s.union, s.sum)
	}
	if s.maxInFlight != 2 {
		t.Errorf("maxInFlight = %d, want 2", s.maxInFlight)
	}
	if s.firstCall != 50*time.Millisecond || s.afterLast != 200*time.Millisecond {
		t.Errorf("firstCall %v afterLast %v; want 50ms 200ms", s.firstCall, s.afterLast)
	}
	if len(s.endpoints) != 3 || s.endpoints[0].endpoint != "POST /containers/{id}/start" || s.endpoints[0].errors != 1 || s.endpoints[0].max != 350*time.Millisecond {
		t.Errorf("endpoints: %+v", s.endpoints)
	}
	if last := s.endpoints[2]; !last.streamingEP || last.endpoint != "GET /events" {
		t.Errorf("streaming endpoint should sort last: %+v", last)
	}
	if tb := s.table(); !strings.Contains(tb, "GET /events (streaming, not in union)") || !strings.Contains(tb, "600 ms = 60% of wall") {
		t.Errorf("table:\n%s", tb)
	}
}

func TestGraphCompose(t *testing.T) {
	fan := string(graphCompose("fan", 4, busyboxImage))
	chain := string(graphCompose("chain", 4, busyboxImage))
	if !strings.Contains(fan, "version: \"3.8\"\n") || !strings.Contains(fan, "init: true") {
		t.Errorf("fan compose:\n%s", fan)
	}
	if strings.Count(fan, "s0:\n        condition: service_started") != 3 {
		t.Errorf("fan: every service but s0 should depend on s0:\n%s", fan)
	}
	for i := 1; i < 4; i++ {
		dep := "  s" + string(rune('0'+i)) + ":\n"
		j := strings.Index(chain, dep)
		want := "depends_on:\n      s" + string(rune('0'+i-1)) + ":"
		if j < 0 || !strings.Contains(chain[j:], want) {
			t.Errorf("chain: s%d should depend on s%d:\n%s", i, i-1, chain)
		}
	}
	// hoist loads what docker-compose 1.29 gets.
	for name, data := range map[string]string{"fan": fan, "chain": chain} {
		p := loadProject(t, name, []byte(data))
		if len(p) != 4 {
			t.Errorf("%s: hoist loaded services %v", name, p)
		}
	}
}

func TestSampleCompose(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "samples", "flask-redis")
	src, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := sampleCompose(src, sampleWebImage, dir)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, bad := range []string{"develop:", "watch:", "sync+restart", "context: ."} {
		if strings.Contains(s, bad) {
			t.Errorf("generated sample still has %q:\n%s", bad, s)
		}
	}
	for _, want := range []string{"version: \"3.8\"\n", "  web:\n    image: \"" + sampleWebImage + "\"\n", "context: \"" + dir + "\"", "condition: service_healthy", "healthcheck:"} {
		if !strings.Contains(s, want) {
			t.Errorf("generated sample lacks %q:\n%s", want, s)
		}
	}
	svcs := loadProject(t, "sample", out)
	if len(svcs) != 2 {
		t.Errorf("hoist loaded services %v", svcs)
	}

	// A develop block anywhere, an existing image: and nested keys after it.
	in := "services:\n  web:\n    image: old\n    build:\n      context: .\n    develop:\n      watch:\n        - path: .\n\n    init: true\n  db:\n    image: redis\n"
	got, err := sampleCompose([]byte(in), "new:1", "/src")
	if err != nil {
		t.Fatal(err)
	}
	want := "# generated by hoist bench from samples/flask-redis/compose.yaml\nversion: \"3.8\"\nservices:\n  web:\n    image: \"new:1\"\n    build:\n      context: \"/src\"\n    init: true\n  db:\n    image: redis\n"
	if string(got) != want {
		t.Errorf("sampleCompose:\n%s\nwant:\n%s", got, want)
	}
	if _, err := sampleCompose([]byte("services:\n  db:\n    image: x\n"), "a", "/b"); err == nil {
		t.Error("no web service: want an error")
	}
}

// loadProject loads data with hoist's own loader and returns the services.
func loadProject(t *testing.T, name string, data []byte) []string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PYTHON_IMAGE=p", "REDIS_IMAGE=r")
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{file}, Name: "hbench-" + name, Environ: env})
	if err != nil {
		t.Fatalf("hoist cannot load the %s compose file: %v\n%s", name, err, data)
	}
	return p.ServiceNames()
}
