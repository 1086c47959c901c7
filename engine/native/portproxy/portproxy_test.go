package portproxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/network"
	"github.com/hoist-dev/hoist/engine/native/network/nettest"
	"github.com/hoist-dev/hoist/netplan"
)

// As root the tests run in a network namespace of their own; all
// traffic goes to 127.0.0.1 or into namespaces they create.
func TestMain(m *testing.M) { os.Exit(nettest.Main(m)) }

var loopback = netip.MustParseAddr("127.0.0.1")

// tcpEcho serves an echo on addr; listen runs where the socket must live.
func tcpEcho(t *testing.T, ln net.Listener) netip.AddrPort {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func udpEcho(t *testing.T, c *net.UDPConn) netip.AddrPort {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// serve binds bindings and serves them until the test ends.
func serve(t *testing.T, p *Proxy, bindings ...Binding) *Bound {
	t.Helper()
	b, err := p.Bind(bindings)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return b
}

func tcpTalk(t *testing.T, addr netip.AddrPort) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "ping\n")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c) // the half close travels to the target and back as EOF
	if err != nil || string(got) != "ping\n" {
		t.Fatalf("echo through %s: %q, %v", addr, got, err)
	}
}

func udpTalk(t *testing.T, addr netip.AddrPort, msg string) {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("udp echo through %s: %q, %v", addr, buf[:n], err)
	}
}

// eventually polls cond until it holds or 5 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTCPOnLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := tcpEcho(t, ln)
	b := serve(t, &Proxy{}, Binding{HostIP: loopback, Proto: "tcp", TargetIP: target.Addr(), TargetPort: target.Port()})
	tcpTalk(t, b.Addrs()[0])
	tcpTalk(t, b.Addrs()[0])
}

func TestShutdownClosesEverything(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := tcpEcho(t, ln)
	b, err := (&Proxy{}).Bind([]Binding{{HostIP: loopback, Proto: "tcp", TargetIP: target.Addr(), TargetPort: target.Port()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	c, err := net.Dial("tcp", b.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "x")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("open connection survived shutdown (read %d)", n)
	}
	ln2, err := net.Listen("tcp", b.Addrs()[0].String())
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	ln2.Close()
}

func TestUDPOnLoopback(t *testing.T) {
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	target := udpEcho(t, uc)
	b := serve(t, &Proxy{UDPIdleTimeout: 200 * time.Millisecond, MaxUDPSessions: 2},
		Binding{HostIP: loopback, Proto: "udp", TargetIP: target.Addr(), TargetPort: target.Port()})
	for i := range 3 { // three clients, two slots: the oldest is evicted
		udpTalk(t, b.Addrs()[0], fmt.Sprint("hello ", i))
		if n := b.UDPSessions(); n > 2 {
			t.Fatalf("%d sessions, bound is 2", n)
		}
	}
	eventually(t, "idle sessions to end", func() bool { return b.UDPSessions() == 0 })
	udpTalk(t, b.Addrs()[0], "again")
}

func TestPortInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).AddrPort().Port()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).AddrPort().Port()
	free.Close()
	_, err = (&Proxy{}).Bind([]Binding{
		{HostIP: loopback, HostPort: freePort, Proto: "tcp", TargetIP: loopback, TargetPort: 1},
		{HostIP: loopback, HostPort: port, Proto: "tcp", TargetIP: loopback, TargetPort: 1},
	})
	if !errors.Is(err, netplan.ErrPortInUse) || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d/tcp is already in use", port)) {
		t.Fatalf("err = %v", err)
	}
	// The binding that did succeed was released.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", freePort))
	if err != nil {
		t.Fatalf("first binding kept after failure: %v", err)
	}
	ln.Close()
	if _, err := (&Proxy{}).Bind([]Binding{{Proto: "sctp", TargetIP: loopback, TargetPort: 1}}); err == nil {
		t.Error("sctp accepted")
	}
}

func TestServeJSON(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := tcpEcho(t, ln)
	in, _ := json.Marshal([]Binding{{HostIP: loopback, Proto: "tcp", TargetIP: target.Addr(), TargetPort: target.Port()}})
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Proxy{}).ServeJSON(ctx, strings.NewReader(string(in)), pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var addrs []netip.AddrPort
	if err := json.Unmarshal([]byte(line), &addrs); err != nil || len(addrs) != 1 {
		t.Fatalf("ready line %q: %v", line, err)
	}
	tcpTalk(t, addrs[0])
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestIntoNetns proxies to echo servers inside a container namespace made
// by the network package, as the engine will.
func TestIntoNetns(t *testing.T) {
	nettest.Root(t)
	dir := t.TempDir()
	m, err := network.New(network.Options{RunDir: filepath.Join(dir, "run"), AllocFile: filepath.Join(dir, "subnets.json")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Cleanup(func() {
		if err := m.Teardown(ctx, "pp"); err != nil {
			t.Error(err)
		}
	})
	if _, err := m.EnsureNetwork(ctx, network.NetSpec{Name: "pp_default", Project: "pp"}); err != nil {
		t.Fatal(err)
	}
	att, err := m.Attach(ctx, network.AttachSpec{Project: "pp", Container: "pp-echo-1",
		Networks: []network.NetworkAttachment{{Name: "pp_default"}}})
	if err != nil {
		t.Fatal(err)
	}
	ip := att.IPs["pp_default"]
	var ln net.Listener
	var uc *net.UDPConn
	if err := nettest.Do(att.NetnsPath, func() (err error) {
		if ln, err = net.Listen("tcp", netip.AddrPortFrom(ip, 7007).String()); err != nil {
			return err
		}
		uc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 7007)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tcpEcho(t, ln)
	udpEcho(t, uc)
	b := serve(t, &Proxy{},
		Binding{HostIP: loopback, Proto: "tcp", TargetIP: ip, TargetPort: 7007},
		Binding{HostIP: loopback, Proto: "udp", TargetIP: ip, TargetPort: 7007})
	tcpTalk(t, b.Addrs()[0])
	udpTalk(t, b.Addrs()[1], "into the namespace")
}
