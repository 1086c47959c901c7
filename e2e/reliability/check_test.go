package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemCheckRepairs damages a native store as a crash or a bad disk
// would (a truncated record, a removed image layer dir, a corrupt blob, a
// removed writable layer), and checks that hoist system check finds each,
// one a line, that --repair leaves a store it finds sound, that the named
// volume's data survives, and that a later up works.
func TestSystemCheckRepairs(t *testing.T) {
	h := newHost(t)
	p := h.project("check", fmt.Sprintf(`
services:
  a:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
    volumes: [data:/data]
  b:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
volumes:
  data: {}
`, testImage))
	p.hoist("up", "-d", "--wait")
	p.hoist("exec", "a", "sh", "-c", "echo precious > /data/file")
	p.hoist("stop", "-t", "0")
	h.checkClean()
	ids := p.ids()
	var bID string
	for _, id := range ids {
		if strings.Contains(p.hoist("ps", "-a", "-q", "b"), id[:12]) {
			bID = id
		}
	}

	// A record cut short (where /run is on disk, a crash can) and an
	// image layer dir removed.
	rec := filepath.Join(h.runDir, p.name, "containers", bID, "config.json")
	truncate(t, rec)
	layers, _ := filepath.Glob(filepath.Join(h.root, "layers", "sha256", "*[^e]"))
	if len(layers) != 1 {
		t.Fatalf("layer dirs %v, want the test image's one", layers)
	}
	if err := os.RemoveAll(layers[0]); err != nil {
		t.Fatal(err)
	}
	out := mustProblems(t, h, false, rec+": container record cannot be read", layers[0]+": layer missing")
	if !strings.Contains(out, "repaired") {
		t.Errorf("--repair said nothing was repaired:\n%s", out)
	}
	h.checkClean()
	p.hoist("up", "-d", "--wait")
	if got := p.hoist("exec", "a", "cat", "/data/file"); got != "precious\n" {
		t.Errorf("volume data after repair: %q", got)
	}
	p.hoist("stop", "-t", "0")

	// A file of an unpacked layer changed (bit rot where no digest is
	// read at run time): only --full reads the trees, and its repair
	// unpacks the layer again from its blob.
	passwd := filepath.Join(layers[0], "etc", "passwd")
	orig, err := os.ReadFile(passwd)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passwd, append(orig, "intruder::0:0::/:/bin/sh\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errs, err := h.run(nil, "", "system", "check"); err != nil || out != "" {
		t.Errorf("system check without --full read the layer trees: %v\n%s%s", err, out, errs)
	}
	mustProblems(t, h, true, layers[0]+": layer /etc/passwd has")
	if got, _ := os.ReadFile(passwd); string(got) != string(orig) {
		t.Errorf("--full --repair left /etc/passwd as %q", got)
	}
	h.checkClean()

	// A corrupt blob: the image cannot be trusted (import it again); and a
	// writable layer removed: its container goes (up makes it again).
	blobs, _ := filepath.Glob(filepath.Join(h.root, "blobs", "sha256", "*"))
	var blob string
	for _, b := range blobs {
		if fi, err := os.Stat(b); err == nil && fi.Size() > 100000 {
			blob = b
		}
	}
	if blob == "" {
		t.Fatalf("no layer blob among %v", blobs)
	}
	if err := os.WriteFile(blob, []byte("bit rot"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(h.root, "containers", bID)); err != nil {
		t.Fatal(err)
	}
	mustProblems(t, h, true, blob+": content hashes", "image index.docker.io/"+testImage+": layer blob", "container "+p.name+"-b-1: its layers are gone")
	h.checkClean()
	h.importBusybox()
	p.hoist("up", "-d", "--wait")
	if got := p.hoist("exec", "a", "cat", "/data/file"); got != "precious\n" {
		t.Errorf("volume data after repair: %q", got)
	}
	if got := p.states(); got != "a running\nb running\n" {
		t.Errorf("ps after up:\n%s", got)
	}
	h.checkClean()
	p.downClean(append(ids, p.ids()...))
	h.checkClean()
}

// truncate cuts the file at p to half its size.
func truncate(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// mustProblems runs system check (--full when full): it must exit 1 and
// print one line per problem, each saying one of want (in any order);
// then system check --repair must print the same problems as repaired
// and exit 0. It returns the repair's output.
func mustProblems(t *testing.T, h *host, full bool, want ...string) string {
	t.Helper()
	args := []string{"system", "check"}
	if full {
		args = append(args, "--full")
	}
	out, errs, err := h.run(nil, "", args...)
	if err == nil {
		t.Fatalf("system check found nothing wrong:\n%s%s", out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("system check printed %d problems, want %d:\n%s%s", len(lines), len(want), out, errs)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("no problem says %q:\n%s", w, out)
		}
	}
	rep := h.must("", append(args, "--repair")...)
	if got := strings.Count(rep, "(repaired: "); got != len(want) {
		t.Errorf("--repair repaired %d problems, want %d:\n%s", got, len(want), rep)
	}
	return rep
}
