package supervisor

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// pongTarget is a TCP server on loopback that answers "pong\n" and hangs
// up: a container's published port's target.
func pongTarget(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("pong\n"))
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// pong reads the target's answer through the published address.
func pong(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	buf := make([]byte, 5)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(buf); err != nil || string(buf) != "pong\n" {
		t.Fatalf("through %s: %q %v", addr, buf, err)
	}
}

// bound reports whether addr is taken (a listen on it fails).
func bound(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

// TestPublish: the ports of a container the supervisor does not run (hoist
// run runs it attached) are bound at Publish, freed at once when it is
// aborted, served once committed with the container's init until that
// process exits or Unpublish, and served again by a supervisor that
// replaces a dead one.
func TestPublish(t *testing.T) {
	f := newFixture(t)
	target := pongTarget(t)
	bind := []portproxy.Binding{{HostIP: netip.MustParseAddr("127.0.0.1"), Proto: "tcp", TargetIP: target.Addr(), TargetPort: target.Port()}}

	pub, err := f.c.Publish(ctx30(t), "aborted", bind)
	if err != nil {
		t.Fatal(err)
	}
	if addr := pub.Addrs[0]; !bound(addr) {
		t.Fatalf("%s is not bound before the container starts", addr)
	}
	pub.Abort()
	if addr := pub.Addrs[0]; bound(addr) {
		t.Fatalf("%s is still bound after Abort", addr)
	}

	proc := exec.Command("sleep", "1000")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Process.Kill(); proc.Wait() })
	start, err := procStartTime(proc.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	pub, err = f.c.Publish(ctx30(t), "run", bind)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Commit(proc.Process.Pid, start); err != nil {
		t.Fatal(err)
	}
	addr := pub.Addrs[0]
	pong(t, addr)

	// The supervisor dies; the next one serves the publication again, on
	// the same port.
	var info Info
	if err := store.ReadJSON(filepath.Join(f.dir, InfoFile), &info); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(info.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for alive(info.Pid, info.StartTime) {
		time.Sleep(5 * time.Millisecond) // until the kernel is done with it
	}
	f.c = f.ensure()
	pong(t, addr)

	// The process exits: the port is freed and the record goes.
	proc.Process.Kill()
	proc.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for bound(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("%s is still bound after its process exited", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		if _, err := os.Stat(filepath.Join(f.dir, publishedDir, "run.json")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the publication's record outlived its process")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Unpublish frees the ports of a process that still runs (this one).
	own, err := procStartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	pub, err = f.c.Publish(ctx30(t), "mine", bind)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Commit(os.Getpid(), own); err != nil {
		t.Fatal(err)
	}
	pong(t, pub.Addrs[0])
	if err := f.c.Unpublish(ctx30(t), "mine"); err != nil {
		t.Fatal(err)
	}
	if bound(pub.Addrs[0]) {
		t.Fatalf("%s is still bound after Unpublish", pub.Addrs[0])
	}
}

// A supervisor of an earlier version, still running a project across an
// upgrade, knows neither op: it serves no publication, so Unpublish has
// nothing to do, and Publish says why it cannot.
func TestPublishToAnEarlierSupervisor(t *testing.T) {
	dir := t.TempDir()
	ln, err := listen(filepath.Join(dir, SocketFile))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			var req request
			if err := json.NewDecoder(conn).Decode(&req); err == nil {
				// What a supervisor before publications answered.
				conn.Write([]byte(`{"error":"unknown op ` + req.Op + `"}` + "\n"))
			}
			conn.Close()
		}
	}()
	c := &Client{dir: dir, Pid: 42}
	if err := c.Unpublish(ctx30(t), "x"); err != nil {
		t.Errorf("Unpublish: %v, want nothing to do", err)
	}
	_, err = c.Publish(ctx30(t), "x", []portproxy.Binding{{HostIP: netip.MustParseAddr("127.0.0.1"), Proto: "tcp"}})
	if err == nil || !strings.Contains(err.Error(), "earlier version of hoist") {
		t.Errorf("Publish: %v, want an error naming the earlier supervisor", err)
	}
}
