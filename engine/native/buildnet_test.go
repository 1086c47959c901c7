package native

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/buildnet"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/testengine"
)

// The native builder's RUN steps get a network namespace of their own on
// a bridge of the build's, as Docker's do. These tests run real builds
// through the engine (Backend.Build, so the engine's own build network)
// and judge by what the listeners the test opened saw, not only by what
// the step printed. Traffic goes only to 127.0.0.1, to an address of this
// host the test adds, and into a network namespace the test creates.

// tcpListener greets each connection with "hello <name>" and records
// where it came from.
type tcpListener struct {
	name string
	ln   net.Listener
	mu   sync.Mutex
	from []netip.Addr
}

func newTCPListener(t *testing.T, name string, ln net.Listener) *tcpListener {
	l := &tcpListener{name: name, ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
			l.mu.Lock()
			l.from = append(l.from, ap.Addr().Unmap())
			l.mu.Unlock()
			fmt.Fprintf(c, "hello %s\n", name)
			c.Close()
		}
	}()
	return l
}

func listenOn(t *testing.T, name, addr string) *tcpListener {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newTCPListener(t, name, ln)
}

func (l *tcpListener) port() int { return l.ln.Addr().(*net.TCPAddr).Port }

// accepted is where the connections so far came from.
func (l *tcpListener) accepted() []netip.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]netip.Addr(nil), l.from...)
}

// farNet is the world outside the host for a RUN step: a network
// namespace of the test's own, linked to the host by a veth pair in a /30
// of 198.18.0.0/15 (the host's end .1, the namespace's .2), with a
// listener in it. The namespace has no route beyond its /30, so only a
// connection whose source the host rewrote to its own .1 (outbound NAT)
// gets an answer.
type farNet struct {
	hostIP, farIP netip.Addr
	hostVeth      string
	l             *tcpListener
}

func newFarNet(t *testing.T) *farNet {
	t.Helper()
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var subnet netip.Prefix
	for range 100 {
		var b [2]byte
		rand.Read(b[:])
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 | b[0]&1, b[1], 4 * (b[0] >> 2)}), 30)
		free := true
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			rp, ok := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			if ok && ones > 0 && netip.PrefixFrom(rp.Unmap(), ones).Overlaps(p) {
				free = false
			}
		}
		if free {
			subnet = p
			break
		}
	}
	if !subnet.IsValid() {
		t.Fatal("no free /30 in 198.18.0.0/15")
	}
	f := &farNet{hostIP: subnet.Addr().Next(), farIP: subnet.Addr().Next().Next()}
	suffix := store.NewID()[:6]
	f.hostVeth = "hbtest" + suffix
	peerName := "hbpeer" + suffix
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: f.hostVeth}, PeerName: peerName}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(f.hostVeth); err == nil {
			netlink.LinkDel(l)
		}
	})
	// The namespace is a thread's: it unshares, and the listener it opens
	// lives there (and keeps the namespace alive). The thread is never
	// unlocked, so it ends with its goroutine.
	type made struct {
		ns  netns.NsHandle
		ln  net.Listener
		err error
	}
	nsc, lnc := make(chan made, 1), make(chan made, 1)
	configured := make(chan struct{})
	go func() {
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			nsc <- made{err: err}
			return
		}
		ns, err := netns.Get()
		nsc <- made{ns: ns, err: err}
		if err != nil {
			return
		}
		<-configured
		ln, err := net.Listen("tcp4", net.JoinHostPort(f.farIP.String(), "0"))
		lnc <- made{ln: ln, err: err}
	}()
	m := <-nsc
	if m.err != nil {
		t.Fatal(m.err)
	}
	ns := m.ns
	t.Cleanup(func() { ns.Close() })
	func() {
		defer close(configured)
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		peer, err := netlink.LinkByName(peerName)
		if err == nil {
			err = netlink.LinkSetNsFd(peer, int(ns))
		}
		if err == nil {
			peer, err = h.LinkByName(peerName)
		}
		if err == nil {
			err = h.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(f.farIP, 30)})
		}
		if err == nil {
			err = h.LinkSetUp(peer)
		}
		host, herr := netlink.LinkByName(f.hostVeth)
		if err == nil {
			err = herr
		}
		if err == nil {
			err = netlink.AddrAdd(host, &netlink.Addr{IPNet: ipNet(f.hostIP, 30)})
		}
		if err == nil {
			err = netlink.LinkSetUp(host)
		}
		if err != nil {
			t.Fatal(err)
		}
	}()
	lm := <-lnc
	if lm.err != nil {
		t.Fatal(lm.err)
	}
	f.l = newTCPListener(t, "far", lm.ln)
	return f
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, 32)}
}

// buildRun builds a Dockerfile of the lines given after FROM, with no
// cache, and returns the RESULT lines its steps printed (by their first
// word) and the build's error.
func buildRun(t *testing.T, b *Backend, spec engine.BuildSpec, lines ...string) (map[string]string, error) {
	t.Helper()
	return buildRunCtx(context.Background(), t, b, spec, nil, lines...)
}

func buildRunCtx(ctx context.Context, t *testing.T, b *Backend, spec engine.BuildSpec, onLine func(string), lines ...string) (map[string]string, error) {
	t.Helper()
	dir := t.TempDir()
	df := "FROM " + testImage + "\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Context, spec.NoCache = dir, true
	var mu sync.Mutex
	res := map[string]string{}
	var all []string
	_, err := b.Build(ctx, spec, func(line string) {
		mu.Lock()
		defer mu.Unlock()
		all = append(all, line)
		if onLine != nil {
			onLine(line)
		}
		if _, r, ok := strings.Cut(line, "RESULT "); ok {
			k, v, _ := strings.Cut(r, " ")
			res[k] = v
		}
	})
	t.Logf("build output:\n%s", strings.Join(all, "\n"))
	// Whatever the outcome, nothing of the build's network is left.
	checkNoBuildNetwork(t, b)
	return res, err
}

// checkNoBuildNetwork fails when a network of this process's builds is
// left, and then removes it, so one failure does not leave the host
// littered.
func checkNoBuildNetwork(t *testing.T, b *Backend) {
	t.Helper()
	left := testengine.NativeBuildLeftovers(b.layout.RunDir, os.Getpid())
	if left == "" {
		return
	}
	t.Errorf("a build left its network behind:\n%s", left)
	seen := map[string]bool{}
	for _, line := range strings.Split(left, "\n") {
		rest, ok := strings.CutPrefix(line, "build network ")
		project, _, _ := strings.Cut(rest, ":")
		if !ok || seen[project] {
			continue
		}
		seen[project] = true
		// Teardown finds a project's links and table by name once its
		// state directory exists, even when its records are lost.
		os.MkdirAll(filepath.Join(b.layout.RunDir, project, "net"), 0o700)
		if err := b.nets.Manager.Teardown(context.Background(), project); err != nil {
			t.Errorf("clean up %s: %v", project, err)
		}
		os.RemoveAll(filepath.Join(b.layout.RunDir, project))
	}
}

// try is a shell function for RUN lines: try NAME HOST PORT prints
// "RESULT NAME <nc's exit code> <what it read or said>".
const try = `try() { out=$(nc -w 3 "$2" "$3" </dev/null 2>&1); echo "RESULT $1 $? $out"; }`

func TestBuildNetworkOfItsOwn(t *testing.T) {
	b := newBackend(t)
	far := newFarNet(t)
	lo := listenOn(t, "lo", "127.0.0.1:0")
	own := listenOn(t, "own", net.JoinHostPort(far.hostIP.String(), "0"))
	res, err := buildRun(t, b, engine.BuildSpec{},
		fmt.Sprintf(`RUN %s; try lo 127.0.0.1 %d; try own %s %d; try far %s %d; echo "RESULT ifaces $(ls /sys/class/net | tr '\n' ' ')"`,
			try, lo.port(), far.hostIP, own.port(), far.farIP, far.l.port()),
		`RUN --network=none echo "RESULT none $(ls /sys/class/net | tr '\n' ' ')"`)
	if err != nil {
		t.Fatal(err)
	}
	// The host's loopback is not the step's: refused there, and the
	// host's listener saw nothing.
	if !strings.HasPrefix(res["lo"], "1 ") || !strings.Contains(res["lo"], "refused") {
		t.Errorf("127.0.0.1 from a RUN step: %q, want refused", res["lo"])
	}
	if got := lo.accepted(); len(got) > 0 {
		t.Errorf("the host's 127.0.0.1 listener was reached from a RUN step: connections from %v", got)
	}
	// The host, at an address of its own, through the bridge's gateway:
	// the connection comes from the step's address, not the host's.
	if res["own"] != "0 hello own" {
		t.Errorf("the host's own address from a RUN step: %q, want hello own", res["own"])
	}
	if got := own.accepted(); len(got) != 1 || got[0] == far.hostIP || got[0].IsLoopback() {
		t.Errorf("the host's own-address listener saw connections from %v, want one from the step's own address", got)
	}
	// Outbound, with NAT: the far side saw the host's address.
	if res["far"] != "0 hello far" {
		t.Errorf("the outside (a namespace behind the host) from a RUN step: %q, want hello far", res["far"])
	}
	if got := far.l.accepted(); len(got) != 1 || got[0] != far.hostIP {
		t.Errorf("the far listener saw connections from %v, want one from %s (the host's address: outbound NAT)", got, far.hostIP)
	}
	if got := strings.Fields(res["ifaces"]); strings.Join(got, " ") != "eth0 lo" {
		t.Errorf("a RUN step's interfaces: %v, want eth0 lo", got)
	}
	if got := strings.TrimSpace(res["none"]); got != "lo" {
		t.Errorf("RUN --network=none's interfaces: %q, want lo", got)
	}
}

func TestBuildNetworkHost(t *testing.T) {
	b := newBackend(t)
	lo := listenOn(t, "lo", "127.0.0.1:0")
	hostStep := fmt.Sprintf(`RUN --network=host %s; try lo 127.0.0.1 %d`, try, lo.port())
	plainStep := fmt.Sprintf(`RUN %s; try plain 127.0.0.1 %d`, try, lo.port())

	// Not allowed: the error names the line and what to do; nothing ran.
	_, err := buildRun(t, b, engine.BuildSpec{}, "RUN true", hostStep)
	if err == nil || !strings.Contains(err.Error(), "(line 3)") || !strings.Contains(err.Error(), "build.network: host") ||
		!strings.Contains(err.Error(), "--network=host") || strings.Contains(err.Error(), "\n") {
		t.Errorf("RUN --network=host without the entitlement: %v, want a one-line error naming line 3 and build.network: host", err)
	}
	if got := lo.accepted(); len(got) > 0 {
		t.Fatalf("the refused step ran: the listener saw %v", got)
	}

	// build.network: host: every step on the host's network.
	res, err := buildRun(t, b, engine.BuildSpec{Network: "host"}, hostStep, plainStep)
	if err != nil {
		t.Fatal(err)
	}
	if res["lo"] != "0 hello lo" || res["plain"] != "0 hello lo" {
		t.Errorf("with build.network: host: --network=host %q, no flag %q; want hello lo for both", res["lo"], res["plain"])
	}
	if got := lo.accepted(); len(got) != 2 {
		t.Errorf("the host's listener saw %v, want two connections", got)
	}

	// build.entitlements: [network.host] allows the flag, and only it.
	res, err = buildRun(t, b, engine.BuildSpec{Entitlements: []string{"network.host"}}, hostStep, plainStep)
	if err != nil {
		t.Fatal(err)
	}
	if res["lo"] != "0 hello lo" || !strings.HasPrefix(res["plain"], "1 ") {
		t.Errorf("with the network.host entitlement: --network=host %q (want hello lo), no flag %q (want refused)", res["lo"], res["plain"])
	}
	if got := lo.accepted(); len(got) != 3 {
		t.Errorf("the host's listener saw %v, want three connections in all", got)
	}
}

func TestBuildNetworkNone(t *testing.T) {
	b := newBackend(t)
	res, err := buildRun(t, b, engine.BuildSpec{Network: "none"},
		`RUN echo "RESULT plain $(ls /sys/class/net | tr '\n' ' ')"`,
		`RUN --network=default echo "RESULT default $(ls /sys/class/net | tr '\n' ' ')"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"plain", "default"} {
		if got := strings.TrimSpace(res[k]); got != "lo" {
			t.Errorf("build.network: none, RUN (%s): interfaces %q, want lo", k, got)
		}
	}
	if _, err := buildRun(t, b, engine.BuildSpec{Network: "none"}, "RUN --network=host true"); err == nil {
		t.Error("RUN --network=host ran in a build with build.network: none")
	}
	if _, err := buildRun(t, b, engine.BuildSpec{Network: "p_front"}, "RUN true"); err == nil || !strings.Contains(err.Error(), "p_front") {
		t.Errorf("build.network of a compose network: %v, want an error naming it", err)
	}
}

// A failed step and a cancelled build leave nothing behind either
// (buildRun checks after each).
func TestBuildNetworkFailureAndCancel(t *testing.T) {
	b := newBackend(t)
	if _, err := buildRun(t, b, engine.BuildSpec{}, "RUN ip addr", "RUN exit 3"); err == nil || !strings.Contains(err.Error(), "exit code 3") {
		t.Errorf("a failing step: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := buildRunCtx(ctx, t, b, engine.BuildSpec{}, func(line string) {
		// The step's output, not its instruction: it is running.
		if strings.Contains(line, "RESULT running") {
			cancel()
		}
	}, `RUN echo "RESULT run""ning"; sleep 60`)
	if err == nil || time.Since(start) > 30*time.Second {
		t.Errorf("a cancelled build: %v after %v", err, time.Since(start))
	}
}

// A build killed outright leaves its network; the next build removes it.
func TestBuildNetworkSweep(t *testing.T) {
	b := newBackend(t)
	n := buildnet.Networks{Manager: b.nets.Manager, RunDir: b.layout.RunDir, Logf: t.Logf}
	ctx := context.Background()
	bn, err := n.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := bn.(*buildnet.Session)
	if _, err := s.Attach(ctx, "hoist-build-sweep"); err != nil {
		t.Fatal(err)
	}
	// The process "dies": its lock goes, nothing is torn down.
	s.Abandon()
	left := testengine.NativeBuildLeftovers(b.layout.RunDir, 0)
	for _, want := range []string{"run dir", "link", "nftables table"} {
		if !strings.Contains(left, s.Project()) || !strings.Contains(left, want) {
			t.Errorf("a dead build's network, as the leftover check sees it, lacks %s:\n%s", want, left)
		}
	}
	res, err := buildRun(t, b, engine.BuildSpec{}, `RUN echo "RESULT ok yes"`)
	if err != nil || res["ok"] != "yes" {
		t.Fatalf("the next build: %v %v", res, err)
	}
	checkNoBuildNetwork(t, b) // the next build removed the dead one's
	// A live build's network is not swept: another build's Open leaves it.
	bn, err = n.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := bn.(*buildnet.Session)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+testImage+"\nRUN true\n"), 0o644)
	if _, err := b.Build(ctx, engine.BuildSpec{Context: dir, NoCache: true}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(live.Dir(), buildnet.OwnerLock)); err != nil {
		t.Errorf("a live build's network was swept: %v", err)
	}
	if err := bn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	checkNoBuildNetwork(t, b)
}
