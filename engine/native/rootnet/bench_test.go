package rootnet

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/hoist-dev/hoist/engine/native/portproxy"
)

// The throughput benchmarks send 64 MiB per operation to a server that
// discards it and acknowledges the end with one byte:
//
//	go test ./engine/native/rootnet -run '^$' -bench . -benchtime 20x
//
// BenchmarkVethDirect is the floor of the path (a socket in the project's
// namespace to the container, no proxy); BenchmarkPublishTCP goes from
// the host's 127.0.0.1 through PublishTCP into the container;
// BenchmarkRootProxy is the root engine's proxy (portproxy, dialling in
// the host's namespace) between two loopback ports, for comparison;
// BenchmarkOutbound goes from the container through StartOutbound to a
// server on this machine's own address.
const benchSize = 64 << 20

func discardServer(b *testing.B, ln net.Listener) netip.AddrPort {
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, c)
				c.Write([]byte{1})
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func benchTransfer(b *testing.B, dial func() (net.Conn, error)) {
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		c, err := dial()
		if err != nil {
			b.Fatal(err)
		}
		for sent := 0; sent < benchSize; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		c.(interface{ CloseWrite() error }).CloseWrite()
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			b.Fatal("no acknowledgement: ", err)
		}
		c.Close()
	}
}

func BenchmarkVethDirect(b *testing.B) {
	requireNative(b)
	tp := newTopology(b)
	ln, err := tp.C.Listen(testCtx(b), "tcp4", netip.AddrPortFrom(container, 0).String())
	if err != nil {
		b.Fatal(err)
	}
	target := discardServer(b, ln)
	benchTransfer(b, func() (net.Conn, error) { return tp.P.Dial(context.Background(), "tcp", target) })
}

func BenchmarkPublishTCP(b *testing.B) {
	requireNative(b)
	tp := newTopology(b)
	ln, err := tp.C.Listen(testCtx(b), "tcp4", netip.AddrPortFrom(container, 0).String())
	if err != nil {
		b.Fatal(err)
	}
	host := publishTCP(b, tp, discardServer(b, ln))
	benchTransfer(b, func() (net.Conn, error) { return net.Dial("tcp4", host.String()) })
}

func BenchmarkRootProxy(b *testing.B) {
	requireNative(b)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	target := discardServer(b, ln)
	pl := hostListener(b, loopback)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&portproxy.Proxy{}).ServeTCP(ctx, pl, target) }()
	b.Cleanup(func() { cancel(); <-done })
	benchTransfer(b, func() (net.Conn, error) { return net.Dial("tcp4", pl.Addr().String()) })
}

func BenchmarkOutbound(b *testing.B) {
	requireNative(b)
	tp := newTopology(b)
	o, err := StartOutbound(testCtx(b), tp.P, []netip.Prefix{subnet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	target := discardServer(b, hostListener(b, hostAddr(b)))
	benchTransfer(b, func() (net.Conn, error) { return tp.C.Dial(context.Background(), "tcp", target) })
}

// BenchmarkPublishTCPConnect measures new connections through PublishTCP
// (each one a socket made by the namespace's socket thread): one byte
// there and the acknowledgement back.
func BenchmarkPublishTCPConnect(b *testing.B) {
	requireNative(b)
	tp := newTopology(b)
	ln, err := tp.C.Listen(testCtx(b), "tcp4", netip.AddrPortFrom(container, 0).String())
	if err != nil {
		b.Fatal(err)
	}
	benchConnect(b, publishTCP(b, tp, discardServer(b, ln)))
}

// BenchmarkRootProxyConnect is BenchmarkPublishTCPConnect through the
// root engine's proxy between two loopback ports.
func BenchmarkRootProxyConnect(b *testing.B) {
	requireNative(b)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	target := discardServer(b, ln)
	pl := hostListener(b, loopback)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&portproxy.Proxy{}).ServeTCP(ctx, pl, target) }()
	b.Cleanup(func() { cancel(); <-done })
	benchConnect(b, pl.Addr().(*net.TCPAddr).AddrPort())
}

func benchConnect(b *testing.B, host netip.AddrPort) {
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp4", host.String())
		if err != nil {
			b.Fatal(err)
		}
		c.Write([]byte{0})
		c.(*net.TCPConn).CloseWrite()
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
