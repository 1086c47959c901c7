package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRootlessHostNetwork: network_mode host as a user is the host's
// network namespace, as podman rootless gives it: the user's own access,
// nothing more. A container holding CAP_NET_ADMIN (in the project's user
// namespace) cannot add a link to the host's namespace, nor bind a port
// below net.ipv4.ip_unprivileged_port_start there. The same commands in a
// container with a namespace of its own succeed, so the refusals are the
// kernel's answer to the namespace, not a missing tool or capability.
func TestRootlessHostNetwork(t *testing.T) {
	u := newRootlessUser(t)
	u.importImage(t)
	dir := u.mkdir(t, "hostnet")
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf(`services:
  hostnet:
    image: %[1]s
    network_mode: host
    cap_add: [NET_ADMIN]
    command: ["sleep", "600"]
  ownnet:
    image: %[1]s
    cap_add: [NET_ADMIN]
    command: ["sleep", "600"]
`, testImage))
	u.hoist(t, dir, "up", "-d")
	defer u.hoistErr(dir, "down", "-t", "0")

	// It is the host's namespace (this test's), not the project's.
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(u.hoist(t, dir, "exec", "hostnet", "readlink", "/proc/self/ns/net")); got != hostNS {
		t.Errorf("network_mode host: the container's namespace is %s, the host's %s", got, hostNS)
	}
	// It holds CAP_NET_ADMIN (bit 12) in its own user namespace.
	if out := u.hoist(t, dir, "exec", "hostnet", "grep", "^CapEff:", "/proc/self/status"); !capSet(out, 12) {
		t.Fatalf("the container lacks CAP_NET_ADMIN, the test proves nothing: %s", out)
	}

	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	link := "hrl" + hex.EncodeToString(suffix)
	out, err := u.hoistErr(dir, "exec", "hostnet", "ip", "link", "add", link, "type", "bridge")
	if _, lerr := net.InterfaceByName(link); lerr == nil {
		_ = exec.Command("ip", "link", "del", link).Run()
		t.Errorf("a rootless container added link %s to the host's network namespace", link)
	}
	if err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("ip link add in the host's namespace: err %v, want EPERM:\n%s", err, out)
	}
	out, err = u.hoistErr(dir, "exec", "hostnet", "timeout", "2", "httpd", "-f", "-p", "127.0.0.1:999", "-h", "/tmp")
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("bind 127.0.0.1:999 in the host's namespace: err %v, want EACCES:\n%s", err, out)
	}

	// The control: in its own namespace the same container config may.
	if out, err := u.hoistErr(dir, "exec", "ownnet", "ip", "link", "add", link, "type", "bridge"); err != nil {
		t.Errorf("ip link add in the container's own namespace failed, so the refusal above proves nothing: %v\n%s", err, out)
	}
	out, err = u.hoistErr(dir, "exec", "ownnet", "timeout", "1", "httpd", "-f", "-p", "127.0.0.1:999", "-h", "/tmp")
	if strings.Contains(out, "Permission denied") {
		t.Errorf("bind 127.0.0.1:999 in the container's own namespace: %v\n%s", err, out)
	}
}

// capSet reads a "CapEff:\t<hex>" line.
func capSet(line string, bit uint) bool {
	f := strings.Fields(line)
	if len(f) != 2 {
		return false
	}
	var v uint64
	if _, err := fmt.Sscanf(f[1], "%x", &v); err != nil {
		return false
	}
	return v&(1<<bit) != 0
}

// TestRootlessPidHost: pid host is not carried (a container gets a pid
// namespace of its own): up and run say so, naming the service and the
// file and line; up --strict refuses before anything is made.
func TestRootlessPidHost(t *testing.T) {
	u := newRootlessUser(t)
	u.importImage(t)
	dir := u.mkdir(t, "pidhost")
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  box:\n    image: "+testImage+"\n    command: [sleep, '600']\n    pid: host\n")
	const warn = `the native-rootless engine ignores "pid (every container gets a pid namespace of its own)" (services: box at compose.yaml:5)`

	out, err := u.hoistErr(dir, "up", "-d", "--strict")
	if err == nil || !strings.Contains(out, "--strict: "+warn) {
		t.Errorf("up --strict with pid host: err %v, want a refusal naming %q:\n%s", err, warn, out)
	}
	if pids := userPids(u.uid); len(pids) > 0 {
		t.Errorf("processes of %s after up --strict refused: %v", u.name, pids)
	}
	if files := runDirFiles(t, u); len(files) > 0 {
		t.Errorf("files in the run dir after up --strict refused: %v", files)
	}

	out = u.hoist(t, dir, "up", "-d")
	if !strings.Contains(out, "WARN "+warn) {
		t.Errorf("up with pid host: want WARN %s:\n%s", warn, out)
	}
	// What it is: a pid namespace of its own, whose pid 1 is the command.
	if got := u.hoist(t, dir, "exec", "box", "cat", "/proc/1/comm"); strings.TrimSpace(got) != "sleep" {
		t.Errorf("pid 1 of the container is %q, want sleep (a namespace of its own)", got)
	}
	out = u.hoist(t, dir, "run", "--rm", "box", "echo", "ran")
	if !strings.Contains(out, "WARN "+warn) || !strings.Contains(out, "ran") {
		t.Errorf("run with pid host: want WARN %s:\n%s", warn, out)
	}
	u.hoist(t, dir, "down", "-t", "0")
	if pids := userPids(u.uid); len(pids) > 0 {
		t.Errorf("processes of %s after down: %v", u.name, pids)
	}
}
