package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootAfterReboot: a project whose services have each restart policy
// (and one the user stopped) goes through a simulated reboot; hoist
// system boot brings back exactly those that restart always or
// unless-stopped and were not stopped by the user, with their named
// volume's data, their network and their published port; ps says so; a
// second boot changes nothing; down leaves nothing.
func TestBootAfterReboot(t *testing.T) {
	h := newHost(t)
	port := freePort(t)
	p := h.project("boot", fmt.Sprintf(`
services:
  web:
    image: %[1]s
    command: ["httpd", "-f", "-p", "8080", "-h", "/data"]
    restart: always
    volumes: [data:/data]
    ports: ["127.0.0.1:%[2]d:8080"]
  peer:
    image: %[1]s
    command: ["sh", "-c", "while true; do wget -q -O /tmp/page http://web:8080/marker && sleep 0.2; sleep 0.1; done"]
    restart: unless-stopped
  held:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
    restart: unless-stopped
  once:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
  failing:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
    restart: on-failure
volumes:
  data: {}
`, testImage, port))
	p.hoist("up", "-d", "--wait")
	p.hoist("exec", "web", "sh", "-c", "echo kept-across-reboot > /data/marker")
	p.hoist("stop", "held")
	get(t, fmt.Sprintf("http://127.0.0.1:%d/marker", port), "kept-across-reboot", 10*time.Second)
	ids := p.ids()
	if len(ids) != 5 {
		t.Fatalf("%d containers, want 5", len(ids))
	}

	h.reboot(p.name, ids)
	if out, _, _ := p.try("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("ps after the reboot, before boot, lists %q", out)
	}

	out := h.must("", "system", "boot")
	if want := "started " + p.name + "-peer-1\nstarted " + p.name + "-web-1\n"; out != want {
		t.Errorf("system boot said %q, want %q", out, want)
	}
	get(t, fmt.Sprintf("http://127.0.0.1:%d/marker", port), "kept-across-reboot", 20*time.Second)
	// The network is back too: peer reaches web by its name.
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, _, err := p.try("exec", "peer", "cat", "/tmp/page")
		if err == nil && strings.Contains(o, "kept-across-reboot") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer never fetched web's page after boot: %v %q", err, o)
		}
		time.Sleep(200 * time.Millisecond)
	}
	want := "failing exited\nheld exited\nonce exited\npeer running\nweb running\n"
	if got := p.states(); got != want {
		t.Errorf("ps after boot:\n%s\nwant:\n%s", got, want)
	}

	// Idempotent: nothing more starts, nothing restarts.
	started := func() string {
		var all string
		for _, id := range ids {
			b, err := os.ReadFile(filepath.Join(h.runDir, p.name, "containers", id, "state.json"))
			if err != nil {
				t.Fatal(err)
			}
			all += string(b)
		}
		return all
	}
	before := started()
	if out := h.must("", "system", "boot"); out != "" {
		t.Errorf("second system boot said %q", out)
	}
	if got := p.states(); got != want {
		t.Errorf("ps after a second boot:\n%s\nwant:\n%s", got, want)
	}
	if after := started(); after != before {
		t.Errorf("a second boot touched a running container: %s, then %s", before, after)
	}
	h.checkClean()

	// The user's start undoes the stop mark: held comes back at the next
	// reboot.
	p.hoist("start", "held")
	h.reboot(p.name, ids)
	h.must("", "system", "boot")
	want = "failing exited\nheld running\nonce exited\npeer running\nweb running\n"
	if got := p.states(); got != want {
		t.Errorf("ps after the second reboot:\n%s\nwant:\n%s", got, want)
	}
	get(t, fmt.Sprintf("http://127.0.0.1:%d/marker", port), "kept-across-reboot", 20*time.Second)
	p.downClean(ids)
	h.checkClean()
}
