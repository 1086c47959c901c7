// Package swarmbed is the tests' handle on the 3-node swarm test bed
// (scripts/swarm-testbed.sh): start it or reuse it, say how to reach its
// manager, nodes and registry, kill and restart a node, and send traffic
// into its hub namespace, where the nodes' addresses answer. The engine's
// tests (engine/swarm) and the CLI's (e2e/swarm) share it.
//
// A test process holds a machine-wide lock from the first use until
// Release, so that two test binaries (go test runs packages in parallel)
// never take the test bed down under each other. The process that
// started the test bed takes it down in Release, unless HOIST_SWARM_KEEP=1.
package swarmbed

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// HubNamespace is the test bed's hub, from where the nodes' addresses
// (192.168.250.11-13) and the registries answer.
const HubNamespace = "/run/netns/hoist-swarm-hub"

// lockPath is outside the test bed's run directory, which down removes,
// and not the script's own lock (which it takes around up and down).
const lockPath = "/run/hoist-swarm-tests.lock"

// Bed is a running test bed.
type Bed struct {
	// Manager is the DOCKER_HOST of the manager (n1).
	Manager string
	// Nodes are the DOCKER_HOSTs of n1..n3.
	Nodes []string
	// Registry is host:port of the registry every node trusts.
	Registry string
	// AuthRegistry is host:port of a registry every node trusts that
	// wants a login (basic auth), AuthUser and AuthPassword's: the nodes
	// have none, so they pull from it only with credentials the manager
	// hands them.
	AuthRegistry, AuthUser, AuthPassword string

	script  string
	started bool
	lock    *os.File
}

// Handle starts the test bed on first use and remembers the outcome, for
// a test binary's tests to share.
type Handle struct {
	once sync.Once
	bed  *Bed
	err  error
}

// Get returns the test bed, starting it the first time.
func (h *Handle) Get() (*Bed, error) {
	h.once.Do(func() { h.bed, h.err = Start() })
	return h.bed, h.err
}

// Release takes the test bed down when this process started it, and
// frees the lock; it is a no-op when Get was never called or failed.
func (h *Handle) Release() error {
	if h.bed == nil {
		return nil
	}
	return h.bed.Release()
}

// Required reports whether a missing test bed fails the tests rather
// than skipping them (CI).
func Required() bool {
	return os.Getenv("HOIST_REQUIRE_DOCKER") == "1" || os.Getenv("HOIST_REQUIRE_SWARM") == "1"
}

// Script is the path of scripts/swarm-testbed.sh.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "swarm-testbed.sh")
}

// Start takes the lock (waiting for another test binary to finish with
// the test bed) and brings the test bed up unless it is.
func Start() (*Bed, error) {
	switch {
	case os.Geteuid() != 0:
		return nil, fmt.Errorf("the swarm test bed needs root")
	case exec.Command("docker", "version").Run() != nil:
		return nil, fmt.Errorf("the swarm test bed needs the docker CLI and a dockerd to take images from")
	}
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("swarm test bed lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("swarm test bed lock: %w", err)
	}
	b := &Bed{script: Script(), lock: lock}
	wasUp := exec.Command(b.script, "status").Run() == nil
	out, err := run(b.script, "up")
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("swarm-testbed.sh up: %v\n%s", err, out)
	}
	b.started = !wasUp
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch {
		case k == "HOIST_SWARM_MANAGER":
			b.Manager = v
		case strings.HasPrefix(k, "HOIST_SWARM_NODE"):
			b.Nodes = append(b.Nodes, v)
		case k == "HOIST_SWARM_REGISTRY":
			b.Registry = v
		case k == "HOIST_SWARM_AUTH_REGISTRY":
			b.AuthRegistry = v
		case k == "HOIST_SWARM_AUTH_USER":
			b.AuthUser = v
		case k == "HOIST_SWARM_AUTH_PASSWORD":
			b.AuthPassword = v
		}
	}
	if b.Manager == "" {
		b.Release()
		return nil, fmt.Errorf("swarm-testbed.sh up gave no manager:\n%s", out)
	}
	return b, nil
}

// Release takes the test bed down when this process started it (unless
// HOIST_SWARM_KEEP=1) and frees the lock.
func (b *Bed) Release() error {
	defer b.lock.Close()
	if !b.started || os.Getenv("HOIST_SWARM_KEEP") == "1" {
		return nil
	}
	if out, err := run(b.script, "down"); err != nil {
		return fmt.Errorf("swarm-testbed.sh down: %v\n%s", err, out)
	}
	return nil
}

// Kill kills a node (n2 or n3) at once, as a power loss would.
func (b *Bed) Kill(node string) error {
	if out, err := run(b.script, "kill", node); err != nil {
		return fmt.Errorf("kill %s: %v\n%s", node, err, out)
	}
	return nil
}

// StartNode starts a killed node again; it rejoins the swarm.
func (b *Bed) StartNode(node string) error {
	if out, err := run(b.script, "start", node); err != nil {
		return fmt.Errorf("start %s: %v\n%s", node, err, out)
	}
	return nil
}

func run(script string, args ...string) ([]byte, error) {
	cmd := exec.Command(script, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

// HubClient is an HTTP client whose connections are made in the hub's
// network namespace: the nodes' host-mode ports are reachable there only.
func HubClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: HubDial, DisableKeepAlives: true}}
}

// HubDial dials addr from the hub's network namespace.
func HubDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(HubNamespace, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// ListenOnNode listens on addr in a node's (n1..n3) network namespace,
// as a process of that machine outside Docker would: Docker knows
// nothing of the port, which stays taken until the listener is closed.
func ListenOnNode(node, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNamespace("/run/netns/hoist-swarm-"+node, func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// inNamespace runs fn on a thread in the network namespace at path: a
// socket belongs to the namespace it is made in. The thread goes back to
// its own namespace after; if it cannot, it stays locked and dies with
// its goroutine. (Left in the hub, the main thread would put the test
// process in the hub's namespace, where the test bed's teardown kills
// everything.)
func inNamespace(path string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- err
			return
		}
		defer orig.Close()
		h, err := netns.GetFromPath(path)
		if err != nil {
			ch <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}
