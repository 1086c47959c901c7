package rootnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/engine/native/portproxy"
)

// DNS forwards a network's DNS queries to the host's resolvers; see
// StartDNS.
type DNS struct {
	udp    *net.UDPConn
	tcp    *net.TCPListener
	ups    []netip.AddrPort
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  chan struct{} // bounds the queries in flight

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

// Forwarding limits: a query tries each upstream for upstreamTimeout in
// turn; at most maxInFlight UDP queries wait at once (more are dropped,
// and the client retries, as with a lost datagram).
const (
	upstreamTimeout = 2 * time.Second
	maxInFlight     = 256
)

// StartDNS serves DNS on listen:53 (UDP and TCP) inside ns, listen being a
// network's gateway address, and forwards every query unchanged to
// upstreams, dialled from the host's namespace: UDP queries to each
// upstream in turn until one answers, TCP connections spliced to the
// first upstream that accepts. It serves until ctx ends or Close.
func StartDNS(ctx context.Context, ns *Netns, listen netip.Addr, upstreams []netip.AddrPort) (*DNS, error) {
	if len(upstreams) == 0 {
		return nil, errors.New("rootnet: dns: no upstream resolver")
	}
	addr := netip.AddrPortFrom(listen, 53).String()
	pc, err := ns.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dns: listen in %s: %w", ns.Path(), err)
	}
	ln, err := ns.Listen(ctx, "tcp", addr)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("dns: listen in %s: %w", ns.Path(), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &DNS{udp: pc.(*net.UDPConn), tcp: ln.(*net.TCPListener), ups: upstreams, cancel: cancel,
		slots: make(chan struct{}, maxInFlight), conns: map[net.Conn]struct{}{}}
	d.wg.Go(func() { d.serveUDP(ctx) })
	d.wg.Go(func() { d.serveTCP(ctx) })
	context.AfterFunc(ctx, func() { d.stop() })
	return d, nil
}

// Close stops serving and waits for the queries in flight to end.
func (d *DNS) Close() error {
	d.cancel()
	d.stop()
	d.wg.Wait()
	return nil
}

func (d *DNS) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	d.udp.Close()
	d.tcp.Close()
	for c := range d.conns {
		c.Close()
	}
}

func (d *DNS) track(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.conns[c] = struct{}{}
	return true
}

func (d *DNS) untrack(c net.Conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
	c.Close()
}

func (d *DNS) serveUDP(ctx context.Context) {
	buf := make([]byte, 65535)
	for {
		n, client, err := d.udp.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || n < 12 { // not even a DNS header
			continue
		}
		select {
		case d.slots <- struct{}{}:
		default:
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		d.wg.Go(func() {
			defer func() { <-d.slots }()
			if a := d.ask(ctx, q); a != nil {
				d.udp.WriteToUDPAddrPort(a, client)
			}
		})
	}
}

// ask sends q to each upstream in turn and returns the first answer with
// q's ID, or nil.
func (d *DNS) ask(ctx context.Context, q []byte) []byte {
	buf := make([]byte, 65535)
	for _, up := range d.ups {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(up))
		if err != nil {
			continue
		}
		if !d.track(c) {
			c.Close()
			return nil
		}
		c.SetDeadline(time.Now().Add(upstreamTimeout))
		_, err = c.Write(q)
		for err == nil {
			var n int
			n, err = c.Read(buf)
			if err == nil && n >= 2 && buf[0] == q[0] && buf[1] == q[1] {
				d.untrack(c)
				return buf[:n]
			}
		}
		d.untrack(c)
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

func (d *DNS) serveTCP(ctx context.Context) {
	for {
		c, err := d.tcp.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !d.track(c) {
			c.Close()
			return
		}
		d.wg.Go(func() {
			defer d.untrack(c)
			for _, up := range d.ups {
				dl := net.Dialer{Timeout: upstreamTimeout}
				u, err := dl.DialContext(ctx, "tcp", up.String())
				if err != nil {
					continue
				}
				if !d.track(u) {
					u.Close()
					return
				}
				portproxy.Splice(c, u.(*net.TCPConn))
				d.untrack(u)
				return
			}
		})
	}
}

// HostResolvers reads the nameservers of a resolv.conf file (the host's
// is /etc/resolv.conf), port 53 each, in order: the upstreams for
// StartDNS. Because the forwarder dials them from the host's namespace, a
// resolver on the host's loopback (127.0.0.53) is fine.
func HostResolvers(path string) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read resolvers: %w", err)
	}
	defer f.Close()
	var out []netip.AddrPort
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue // a scoped IPv6 address, say: net's resolver skips it too
		}
		out = append(out, netip.AddrPortFrom(a.Unmap(), 53))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read resolvers from %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no nameserver in %s", path)
	}
	return out, nil
}
