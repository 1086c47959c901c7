package reliability

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// soakCycles is HOIST_SOAK_CYCLES, 20 by default (what CI runs; go tool
// task soak runs 1000).
func soakCycles(t *testing.T) int {
	n := 20
	if v := os.Getenv("HOIST_SOAK_CYCLES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2 {
			t.Fatalf("HOIST_SOAK_CYCLES=%q: want a count of at least 2", v)
		}
	}
	return n
}

// sample is what one soak cycle leaves: while the project is up (after a
// restart), the fds and RSS of hoist's processes (the supervisor, and
// anything else naming the run dir) and the project's nftables rules and
// links; after down, what must be gone again.
type sample struct {
	upFDs, upRSSKiB, upProcs int
	upNftRules, upLinks      int
	upMounts                 int
	// While up, what the probes of after down must see: a probe that
	// finds nothing while the project runs would find nothing after down
	// whatever was left.
	upCgroups, upNetns int
	// After down.
	mounts, cgroups, links, netns, nftRules, runFiles int
	storeBytes                                        int64
	// store is every entry of the store after down (storeFiles).
	store map[string]string
}

// procStats sums the open fds and RSS of the processes naming the run
// dir (zombies count for nothing).
func (h *host) procStats() (procs, fds, rssKiB int) {
	for _, pid := range h.pids(nil) {
		if zombieOrGone(pid) {
			continue
		}
		procs++
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		fds += len(ents)
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				rssKiB += n
			}
		}
	}
	return procs, fds, rssKiB
}

// files counts the regular files and dirs under dir.
func files(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, _ fs.DirEntry, err error) error {
		if err == nil {
			n++
		}
		return nil
	})
	return n
}

// storeSize sums the sizes of the files of the store (HOIST_ROOT).
func storeSize(root string) int64 {
	var n int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// storeFiles describes every entry under root by its path relative to
// root: a dir as "dir", a symlink by its target, a file by its size and
// the SHA-256 of its content, so that two cycles' stores compare exactly.
func storeFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink to " + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("%d bytes, sha256 %x", len(b), sha256.Sum256(b))
			if len(b) <= 1024 && utf8.Valid(b) {
				// A small file (a record, an allocation) says itself what
				// changed.
				out[rel] += fmt.Sprintf(": %q", b)
			}
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the store: %v", err)
	}
	return out
}

// storeDiff lists, one a line, what differs between two storeFiles.
func storeDiff(a, b map[string]string) string {
	var lines []string
	for p, x := range a {
		if y, ok := b[p]; !ok {
			lines = append(lines, "gone: "+p+" ("+x+")")
		} else if x != y {
			lines = append(lines, "changed: "+p+" ("+x+", then "+y+")")
		}
	}
	for p, y := range b {
		if _, ok := a[p]; !ok {
			lines = append(lines, "new: "+p+" ("+y+")")
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// netnsMounts counts the namespace files mounted under the run dir.
func (h *host) netnsMounts() int {
	n := 0
	for _, m := range h.mounts() {
		if strings.Contains(m, "/netns/") {
			n++
		}
	}
	return n
}

// projectNftRules counts the rules of project's nftables table.
func projectNftRules(project string) int {
	return nftRulesOf("hoist-" + project)
}

// TestSoak cycles up -d --wait, exec, logs, restart and down of a
// 5-service project (two networks, a named volume, a published port, a
// healthcheck) HOIST_SOAK_CYCLES times on the native engine, and checks
// that nothing grows: what the last cycle leaves equals what the first
// left (fds, processes, mounts, cgroups, links, network namespaces,
// nftables rules, files under the run dir, the store's size; RSS within
// a margin, as the Go runtime's heap is not exact). It logs the table.
func TestSoak(t *testing.T) {
	h := newHost(t)
	cycles := soakCycles(t)
	port := freePort(t)
	p := h.project("soak", fmt.Sprintf(`
services:
  web:
    image: %[1]s
    command: ["sh", "-c", "[ -f /data/index.html ] || echo new > /data/index.html; exec httpd -f -p 8080 -h /data"]
    init: true
    ports: ["127.0.0.1:%[2]d:8080"]
    volumes: [data:/data]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      start_interval: 100ms
      start_period: 10s
  api:
    image: %[1]s
    command: ["sh", "-c", "while true; do echo api line; sleep 0.2; done"]
    init: true
    networks: [default, back]
    depends_on:
      web: {condition: service_healthy}
  db:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
    networks: [back]
    volumes: [data:/var/lib/db]
  cache:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
    networks: [back]
  worker:
    image: %[1]s
    command: ["sh", "-c", "while true; do wget -q -O /dev/null http://web:8080/ ; sleep 0.5; done"]
    init: true
    depends_on: [api]
networks:
  back: {}
volumes:
  data: {}
`, testImage, port))
	var samples []sample
	var allIDs []string
	for i := 0; i < cycles; i++ {
		p.hoist("up", "-d", "--wait")
		p.hoist("exec", "web", "sh", "-c", fmt.Sprintf("echo cycle-%d > /data/index.html", i))
		get(t, fmt.Sprintf("http://127.0.0.1:%d/", port), fmt.Sprintf("cycle-%d", i), 10*time.Second)
		if out := p.hoist("logs", "--no-color", "api"); !strings.Contains(out, "api line") {
			t.Fatalf("cycle %d: logs of api: %q", i, out)
		}
		p.hoist("restart", "-t", "1", "cache", "api")
		p.hoist("up", "-d", "--wait")
		var s sample
		// The least of a few samples: a healthcheck probe or an exec in
		// flight holds fds for a moment; a leak stays in the least.
		s.upProcs, s.upFDs, s.upRSSKiB = h.procStats()
		for k := 0; k < 6; k++ {
			time.Sleep(150 * time.Millisecond)
			if pr, fds, rss := h.procStats(); fds < s.upFDs {
				s.upProcs, s.upFDs, s.upRSSKiB = pr, fds, rss
			}
		}
		s.upNftRules = projectNftRules(p.name)
		s.upLinks = len(links(p.name))
		s.upMounts = len(h.mounts())
		s.upNetns = h.netnsMounts()
		ids := p.ids()
		s.upCgroups = len(cgroups(ids))
		allIDs = append(allIDs, ids...)
		p.hoist("down", "-t", "1")
		s.mounts = len(h.mounts())
		s.cgroups = len(cgroups(allIDs))
		s.links = len(links(p.name))
		s.netns = h.netnsMounts()
		s.nftRules = projectNftRules(p.name)
		s.runFiles = files(h.runDir)
		s.storeBytes = storeSize(h.root)
		if i == 0 || i == cycles-1 {
			s.store = storeFiles(t, h.root)
		}
		samples = append(samples, s)
		// One line a cycle (go test -v streams it), so a long soak can be
		// read while it runs, or after it is stopped.
		t.Logf("cycle %d/%d %s: up procs=%d fds=%d rss=%dKiB mounts=%d links=%d nft=%d; down mounts=%d cgroups=%d links=%d netns=%d nft=%d runfiles=%d store=%d",
			i+1, cycles, time.Now().UTC().Format("15:04:05"), s.upProcs, s.upFDs, s.upRSSKiB, s.upMounts, s.upLinks, s.upNftRules,
			s.mounts, s.cgroups, s.links, s.netns, s.nftRules, s.runFiles, s.storeBytes)
	}
	first, last := samples[0], samples[len(samples)-1]
	// A Markdown table on stdout, unindented, to paste as it is.
	var table bytes.Buffer
	fmt.Fprintf(&table, "soak: %d cycles of a 5-service project on the native engine\n\n", cycles)
	fmt.Fprintf(&table, "| sample | first cycle | last cycle |\n|---|---:|---:|\n")
	row := func(what string, a, b any) { fmt.Fprintf(&table, "| %s | %v | %v |\n", what, a, b) }
	row("up: hoist processes", first.upProcs, last.upProcs)
	row("up: their open fds", first.upFDs, last.upFDs)
	row("up: their RSS (KiB)", first.upRSSKiB, last.upRSSKiB)
	row("up: mounts", first.upMounts, last.upMounts)
	row("up: links", first.upLinks, last.upLinks)
	row("up: nft rules", first.upNftRules, last.upNftRules)
	row("up: cgroups", first.upCgroups, last.upCgroups)
	row("up: netns", first.upNetns, last.upNetns)
	row("down: mounts", first.mounts, last.mounts)
	row("down: cgroups", first.cgroups, last.cgroups)
	row("down: links", first.links, last.links)
	row("down: netns", first.netns, last.netns)
	row("down: nft rules", first.nftRules, last.nftRules)
	row("down: files under run dir", first.runFiles, last.runFiles)
	row("down: store bytes", first.storeBytes, last.storeBytes)
	fmt.Print("\n" + table.String() + "\n")

	for _, c := range []struct {
		what        string
		first, last int
	}{
		{"hoist processes while up", first.upProcs, last.upProcs},
		{"open fds while up", first.upFDs, last.upFDs},
		{"mounts while up", first.upMounts, last.upMounts},
		{"links while up", first.upLinks, last.upLinks},
		{"nft rules while up", first.upNftRules, last.upNftRules},
		{"cgroups while up", first.upCgroups, last.upCgroups},
		{"netns while up", first.upNetns, last.upNetns},
		{"mounts after down", first.mounts, last.mounts},
		{"cgroups after down", first.cgroups, last.cgroups},
		{"links after down", first.links, last.links},
		{"netns after down", first.netns, last.netns},
		{"nft rules after down", first.nftRules, last.nftRules},
		{"files under the run dir after down", first.runFiles, last.runFiles},
	} {
		if c.last != c.first {
			t.Errorf("%s grew: %d in the first cycle, %d in the last", c.what, c.first, c.last)
		}
	}
	// The probes see what they count: while up, each kind is there.
	for what, n := range map[string]int{"hoist processes": first.upProcs, "fds": first.upFDs, "mounts": first.upMounts,
		"links": first.upLinks, "nft rules": first.upNftRules, "cgroups": first.upCgroups, "netns": first.upNetns} {
		if n == 0 {
			t.Errorf("no %s while up in the first cycle: the probe sees nothing", what)
		}
	}
	// The store after down is the first cycle's, entry for entry and
	// byte for byte, but for the one file the test itself rewrites each
	// cycle in the named volume (its size grows with the cycle number's
	// digits: 1,000 cycles grow the store by 2 bytes).
	page := filepath.Join("volumes", p.name+"_data", "_data", "index.html")
	for i, s := range []sample{first, last} {
		n := 0
		if i == 1 {
			n = cycles - 1
		}
		want := fmt.Sprintf("cycle-%d\n", n)
		if got := s.store[page]; got != fmt.Sprintf("%d bytes, sha256 %x: %q", len(want), sha256.Sum256([]byte(want)), want) {
			t.Errorf("after cycle %d the volume's page is %q, want %q", n+1, got, want)
		}
		delete(s.store, page)
	}
	if d := storeDiff(first.store, last.store); d != "" {
		t.Errorf("the store after the last cycle's down differs from the first's:\n%s", d)
	}
	if last.upRSSKiB > first.upRSSKiB*3/2+4096 {
		t.Errorf("RSS of hoist's processes grew: %d KiB in the first cycle, %d in the last", first.upRSSKiB, last.upRSSKiB)
	}
	p.hoist("down", "-v", "-t", "0")
	if left := h.leftovers(p.name, allIDs); left != "" {
		t.Fatalf("down -v left:\n%s", left)
	}
	h.checkClean()
}

// soakProjects is HOIST_SOAK_PROJECTS as "PROJECTSxSERVICES", 20x10 by
// default.
func soakProjects(t *testing.T) (int, int) {
	v := os.Getenv("HOIST_SOAK_PROJECTS")
	if v == "" {
		return 20, 10
	}
	a, b, ok := strings.Cut(v, "x")
	np, err1 := strconv.Atoi(a)
	ns, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || np < 1 || ns < 1 {
		t.Fatalf("HOIST_SOAK_PROJECTS=%q: want PROJECTSxSERVICES", v)
	}
	return np, ns
}

// TestManyProjectsAtOnce brings up 20 projects of 10 services each
// (HOIST_SOAK_PROJECTS) at once, each with a network of its own and a
// published port, checks that every one answers and that its services
// reach each other by name, then takes them all down at once: nothing of
// any is left.
func TestManyProjectsAtOnce(t *testing.T) {
	h := newHost(t)
	np, ns := soakProjects(t)
	type proj struct {
		p    *project
		port int
	}
	var ps []proj
	for i := 0; i < np; i++ {
		port := freePort(t)
		var b strings.Builder
		fmt.Fprintf(&b, "services:\n  web:\n    image: %s\n    command: [\"sh\", \"-c\", \"echo project-%d > /tmp/index.html; httpd -f -p 8080 -h /tmp\"]\n    ports: [\"127.0.0.1:%d:8080\"]\n", testImage, i, port)
		for j := 1; j < ns; j++ {
			fmt.Fprintf(&b, "  s%d:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n    init: true\n", j, testImage)
		}
		ps = append(ps, proj{h.project(fmt.Sprintf("many%02d", i), b.String()), port})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ps))
	for i, x := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, errOut, err := x.p.try("up", "-d", "--wait"); err != nil {
				errs[i] = fmt.Errorf("up %s: %v\n%s%s", x.p.name, err, out, errOut)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var allIDs []string
	for i, x := range ps {
		get(t, fmt.Sprintf("http://127.0.0.1:%d/", x.port), fmt.Sprintf("project-%d", i), 20*time.Second)
		if out := x.p.hoist("exec", fmt.Sprintf("s%d", ns-1), "wget", "-q", "-O", "-", "http://web:8080/"); !strings.Contains(out, fmt.Sprintf("project-%d", i)) {
			t.Errorf("%s: a service reached web by name and got %q", x.p.name, out)
		}
		if n := strings.Count(x.p.states(), "running"); n != ns {
			t.Errorf("%s: %d services running, want %d", x.p.name, n, ns)
		}
		allIDs = append(allIDs, x.p.ids()...)
	}
	for i, x := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, errOut, err := x.p.try("down", "-v", "-t", "0"); err != nil {
				errs[i] = fmt.Errorf("down %s: %v\n%s%s", x.p.name, err, out, errOut)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, x := range ps {
		if left := h.leftovers(x.p.name, allIDs); left != "" {
			t.Errorf("%s left:\n%s", x.p.name, left)
		}
	}
	h.checkClean()
}
