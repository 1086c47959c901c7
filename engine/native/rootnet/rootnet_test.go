package rootnet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/net/dns/dnsmessage"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// serveSum runs, in the container namespace, a TCP server that answers
// each connection, once its client has finished sending, with the byte
// count, the SHA-256 of what it received and the peer address it saw.
func serveSum(t testing.TB, tp *topology) netip.AddrPort {
	t.Helper()
	ln, err := tp.C.Listen(testCtx(t), "tcp4", netip.AddrPortFrom(container, 0).String())
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
			go func() {
				defer c.Close()
				h := sha256.New()
				n, _ := io.Copy(h, c)
				fmt.Fprintf(c, "%d %x %s\n", n, h.Sum(nil), c.RemoteAddr())
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// sendSum sends size pseudo-random bytes on c and checks the server's
// count and sum; it returns the peer address the server saw.
func sendSum(t testing.TB, c *net.TCPConn, size int) string {
	t.Helper()
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), int64(size)), h)
	if _, err := io.Copy(c, src); err != nil {
		t.Fatal("send: ", err)
	}
	c.CloseWrite()
	reply, err := io.ReadAll(c)
	if err != nil {
		t.Fatal("read the sum: ", err)
	}
	f := strings.Fields(string(reply))
	want := fmt.Sprintf("%d %x", size, h.Sum(nil))
	if len(f) != 3 || f[0]+" "+f[1] != want {
		t.Fatalf("server got %q, want %q", reply, want)
	}
	return f[2]
}

func hostListener(t testing.TB, a netip.Addr) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// publishTCP publishes a host 127.0.0.1 port to target until the test
// ends and returns the port's address.
func publishTCP(t testing.TB, tp *topology, target netip.AddrPort) netip.AddrPort {
	t.Helper()
	ln := hostListener(t, loopback)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- PublishTCP(ctx, tp.P, ln, target) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func dialTCP(t testing.TB, a netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(a))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func scenarioPublishTCP(t *testing.T, tp *topology, bulk int) {
	host := publishTCP(t, tp, serveSum(t, tp))
	if peer := sendSum(t, dialTCP(t, host), len("hello")); !strings.HasPrefix(peer, gateway.String()+":") {
		t.Errorf("the container saw the connection from %s, want the project's gateway %s", peer, gateway)
	}
	sendSum(t, dialTCP(t, host), bulk)
}

func scenarioPublishUDP(t *testing.T, tp *topology) {
	pc, err := tp.C.ListenPacket(testCtx(t), "udp4", netip.AddrPortFrom(container, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() { // echoes each datagram with the peer it came from
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append(buf[:n:n], " from "+from.String()...), from)
		}
	}()
	target := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	hc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- PublishUDP(ctx, tp.P, hc, target, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c, err := net.DialUDP("udp4", nil, hc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		msg := fmt.Sprintf("datagram %d", i)
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal("no echo through the published UDP port: ", err)
		}
		want := msg + " from " + gateway.String() + ":"
		if !strings.HasPrefix(string(buf[:n]), want) {
			t.Fatalf("echo %q, want it to start %q", buf[:n], want)
		}
	}
}

// scenarioOutbound connects from the container to a server on this
// machine's own address in the host's namespace, through StartOutbound,
// and checks that the host's loopback stays out of reach.
func scenarioOutbound(t *testing.T, tp *topology) {
	ctx := testCtx(t)
	o, err := StartOutbound(ctx, tp.P, []netip.Prefix{subnet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := o.Close(); err != nil {
			t.Error(err)
		}
	})
	ha := hostAddr(t)
	ln := hostListener(t, ha)
	want := ln.Addr().(*net.TCPAddr).AddrPort()
	got := make(chan string, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		defer c.Close()
		line := make([]byte, 4)
		io.ReadFull(c, line)
		fmt.Fprintf(c, "%s at %s from %s\n", line, c.LocalAddr(), c.RemoteAddr())
		got <- string(line)
	}()
	c, err := tp.C.Dial(ctx, "tcp", want)
	if err != nil {
		t.Fatalf("connect from the container to %s: %v", want, err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "ping" {
		t.Fatalf("host server read %q", s)
	}
	f := strings.Fields(string(reply))
	if len(f) != 5 || f[2] != want.String() {
		t.Fatalf("reply %q, want the connection to arrive at %s", reply, want)
	}
	if from := netip.MustParseAddrPort(f[4]).Addr(); subnet.Contains(from) {
		t.Errorf("the host saw the container's own address %s, want a host address", from)
	}

	// The host's loopback: a server on 127.0.0.1 must not be reached.
	lo := hostListener(t, loopback)
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := lo.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if c, err := tp.C.Dial(dctx, "tcp", lo.Addr().(*net.TCPAddr).AddrPort()); err == nil {
		c.Close()
		t.Errorf("a container reached %s, the host's loopback", lo.Addr())
	}
	// The listener itself, dialled directly from the container at the
	// gateway, carries nothing: there is no original destination.
	if c, err := tp.C.Dial(dctx, "tcp", netip.AddrPortFrom(gateway, o.Port())); err == nil {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(make([]byte, 1))
		c.Close()
		if n != 0 || err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			t.Errorf("a direct connection to the outbound listener was not closed: %d, %v", n, err)
		}
	}
	select {
	case <-accepted:
		t.Error("the host's 127.0.0.1 server accepted a connection from a container")
	case <-time.After(100 * time.Millisecond):
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tableExists says whether OutboundTable is in ns.
func tableExists(t testing.TB, ns *Netns) bool {
	t.Helper()
	var found bool
	err := ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		ts, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
		for _, tb := range ts {
			found = found || tb.Name == OutboundTable
		}
		return err
	})
	if err != nil {
		t.Fatal("list nftables tables: ", err)
	}
	return found
}

// dnsServer answers A queries for name with addr, over UDP and TCP on
// the same 127.0.0.1 port in the host's namespace.
func dnsServer(t testing.TB, name string, addr netip.Addr) netip.AddrPort {
	t.Helper()
	answer := func(q []byte) []byte {
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return nil
		}
		qs, err := p.AllQuestions()
		if err != nil || len(qs) != 1 {
			return nil
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeNameError})
		if qs[0].Name.String() == name && qs[0].Type == dnsmessage.TypeA {
			b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		}
		b.StartQuestions()
		b.Question(qs[0])
		b.StartAnswers()
		if qs[0].Name.String() == name && qs[0].Type == dnsmessage.TypeA {
			b.AResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: addr.As4()})
		}
		out, _ := b.Finish()
		return out
	}
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	at := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(at))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := uc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if a := answer(buf[:n]); a != nil {
				uc.WriteToUDPAddrPort(a, from)
			}
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				q, err := readTCPMsg(c)
				if err != nil {
					return
				}
				if a := answer(q); a != nil {
					c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(a))))
					c.Write(a)
				}
			}()
		}
	}()
	return at
}

func readTCPMsg(r io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	m := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err := io.ReadFull(r, m)
	return m, err
}

func query(t testing.TB, id uint16, name string) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	q, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// answerA is the single A record of answer m to query id.
func answerA(t testing.TB, id uint16, m []byte) netip.Addr {
	t.Helper()
	var p dnsmessage.Parser
	h, err := p.Start(m)
	if err != nil || h.ID != id {
		t.Fatalf("answer %x: header %+v, %v", m, h, err)
	}
	p.SkipAllQuestions()
	as, err := p.AllAnswers()
	if err != nil || len(as) != 1 {
		t.Fatalf("answers %+v, %v", as, err)
	}
	return netip.AddrFrom4(as[0].Body.(*dnsmessage.AResource).A)
}

// scenarioDNS asks the forwarder on the gateway, from the container, over
// UDP and TCP, for a name only the test's upstream on the host's loopback
// knows.
func scenarioDNS(t *testing.T, tp *topology) {
	ctx := testCtx(t)
	want := netip.MustParseAddr("192.0.2.77")
	up := dnsServer(t, "app.rootnet.test.", want)
	d, err := StartDNS(ctx, tp.P, gateway, []netip.AddrPort{up})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	at := netip.AddrPortFrom(gateway, 53)

	uc, err := tp.C.Dial(ctx, "udp", at)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.Write(query(t, 0x1234, "app.rootnet.test."))
	uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatal("no UDP answer from the forwarder: ", err)
	}
	if got := answerA(t, 0x1234, buf[:n]); got != want {
		t.Errorf("UDP: app.rootnet.test is %s, want %s", got, want)
	}

	tc, err := tp.C.Dial(ctx, "tcp", at)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	q := query(t, 0x4321, "app.rootnet.test.")
	tc.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...))
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := readTCPMsg(tc)
	if err != nil {
		t.Fatal("no TCP answer from the forwarder: ", err)
	}
	if got := answerA(t, 0x4321, m); got != want {
		t.Errorf("TCP: app.rootnet.test is %s, want %s", got, want)
	}
}
