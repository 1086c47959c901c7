package rootnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// requireNative skips t unless it runs as root, or fails it when CI says
// the native engine's tests must run (HOIST_REQUIRE_NATIVE=1).
func requireNative(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 || os.Getenv(envRole) == roleInner {
		return
	}
	if os.Getenv("HOIST_REQUIRE_NATIVE") == "1" {
		t.Fatal("HOIST_REQUIRE_NATIVE=1 but not root: rootnet's tests need root to make namespaces and a user")
	}
	t.Skip("needs root")
}

// The throwaway topology: a project namespace P holding the gateway
// p0 10.89.0.1/24, and a container namespace C holding c0 10.89.0.2/24
// with its default route through the gateway, joined by a veth pair.
var (
	subnet    = netip.MustParsePrefix("10.89.0.0/24")
	gateway   = netip.MustParseAddr("10.89.0.1")
	container = netip.MustParseAddr("10.89.0.2")
)

type topology struct {
	P, C *Netns
}

// newNetns makes a network namespace that lives as long as the test: it
// is held by an open fd, named /proc/self/fd/N, so no mount is needed (a
// user without a mount namespace of its own can do the same).
func newNetns(t testing.TB) string {
	t.Helper()
	type res struct {
		fd  int
		err error
	}
	ch := make(chan res, 1)
	work := func() { // on a locked thread, not the main one: it dies in the new namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- res{-1, fmt.Errorf("unshare network namespace: %w", err)}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		ch <- res{fd, err}
	}
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() { // the main thread would be wedged there (see Netns.Do)
			locked := make(chan struct{})
			go func() {
				runtime.LockOSThread()
				close(locked)
				work()
			}()
			<-locked
			runtime.UnlockOSThread()
			return
		}
		work()
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return fmt.Sprintf("/proc/self/fd/%d", r.fd)
}

func openNetns(t testing.TB, path string) *Netns {
	t.Helper()
	n, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func newTopology(t testing.TB) *topology {
	t.Helper()
	tp := &topology{P: openNetns(t, newNetns(t)), C: openNetns(t, newNetns(t))}
	err := tp.P.Do(func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "p0"}, PeerName: "c0", PeerNamespace: netlink.NsFd(tp.C.fd)}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth: %w", err)
		}
		if err := addAddr("p0", netip.PrefixFrom(gateway, subnet.Bits())); err != nil {
			return err
		}
		return linkUp("p0")
	})
	if err != nil {
		t.Fatal("project namespace: ", err)
	}
	err = tp.C.Do(func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		if err := addAddr("c0", netip.PrefixFrom(container, subnet.Bits())); err != nil {
			return err
		}
		if err := linkUp("c0"); err != nil {
			return err
		}
		c0, err := netlink.LinkByName("c0")
		if err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: c0.Attrs().Index, Gw: gateway.AsSlice()})
	})
	if err != nil {
		t.Fatal("container namespace: ", err)
	}
	// A new veth drops what is sent before the kernel's link watch has
	// activated it, which shows as the operational state going up.
	for _, end := range []struct {
		ns   *Netns
		name string
	}{{tp.P, "p0"}, {tp.C, "c0"}} {
		if err := end.ns.Do(func() error { return waitOperUp(end.name) }); err != nil {
			t.Fatal(err)
		}
	}
	return tp
}

func waitOperUp(name string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s is still %s", name, l.Attrs().OperState)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("link %s up: %w", name, err)
	}
	return nil
}

func addAddr(name string, p netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", p, name, err)
	}
	return nil
}

// hostAddr is this machine's own first non-loopback IPv4 address on an
// interface that is up: the only address other than loopback the tests
// send to.
func hostAddr(t testing.TB) netip.Addr {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() && !ip.IsLoopback() {
					return ip.Unmap()
				}
			}
		}
	}
	t.Fatal("no non-loopback IPv4 address on this machine")
	return netip.Addr{}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
