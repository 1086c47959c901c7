// Package portproxy publishes container ports with a userland proxy: it
// binds the host side of each binding and forwards TCP connections and
// UDP datagrams to the container's address. It is a library with no
// globals, meant to run inside a long-lived process (the per-container
// monitor or the project supervisor), since the proxy must live as long
// as the container does.
//
// # Running it in its own process
//
// When the lead would rather not load the proxy into the monitor, the
// same code runs re-executed: the parent starts "/proc/self/exe" with a
// hidden argument (say "hoist __portproxy"), Pdeathsig SIGTERM and pipes on
// stdin and stdout; the child calls ServeJSON(ctx, os.Stdin, os.Stdout)
// with ctx from signal.NotifyContext(SIGTERM). ServeJSON reads the
// bindings as JSON, binds them all, writes one JSON line with the bound
// addresses (or exits with the bind error, which names the port) and
// serves until its context ends. The parent reads that line to know the
// ports are published before it reports the container as started.
//
// The container sees connections coming from its network's gateway (the
// host end of the proxy), not from the real client, as with Docker's
// userland proxy.
package portproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/netplan"
)

// Binding is one published port.
type Binding struct {
	// HostIP is the host address to bind; the zero Addr is 0.0.0.0.
	HostIP netip.Addr `json:"host_ip,omitzero"`
	// HostPort 0 binds any free port (see Bound.Addrs).
	HostPort   uint16     `json:"host_port"`
	Proto      string     `json:"proto"` // "tcp" or "udp"
	TargetIP   netip.Addr `json:"target_ip"`
	TargetPort uint16     `json:"target_port"`
}

func (b Binding) host() netip.AddrPort {
	ip := b.HostIP
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(ip, b.HostPort)
}

func (b Binding) String() string {
	return fmt.Sprintf("%s %s -> %s", b.Proto, b.host(), netip.AddrPortFrom(b.TargetIP, b.TargetPort))
}

// Defaults for Proxy.
const (
	DefaultUDPIdleTimeout = 30 * time.Second
	DefaultMaxUDPSessions = 1024
	DefaultDialTimeout    = 10 * time.Second
)

// Proxy holds the settings; the zero value uses the defaults.
type Proxy struct {
	// UDPIdleTimeout ends a UDP session (a client address and its socket
	// towards the container) after this long without traffic either way.
	UDPIdleTimeout time.Duration
	// MaxUDPSessions bounds each UDP binding's session table; when it is
	// full, the least recently used session is ended for the new one.
	MaxUDPSessions int
	// DialTimeout bounds connecting to the container.
	DialTimeout time.Duration
	// Logf, when set, hears about failed forwards.
	Logf func(format string, args ...any)
	// Dial, when set, connects to the target instead of a net.Dialer in
	// this thread's network namespace: a rootless project's containers
	// live in a namespace the proxy's threads cannot stay in, so its
	// sockets are made there (see engine/native/rootnet). It must return
	// a *net.TCPConn for "tcp" and a *net.UDPConn for "udp".
	Dial func(ctx context.Context, network string, target netip.AddrPort) (net.Conn, error)
}

func (p *Proxy) withDefaults() Proxy {
	q := *p
	if q.UDPIdleTimeout <= 0 {
		q.UDPIdleTimeout = DefaultUDPIdleTimeout
	}
	if q.MaxUDPSessions <= 0 {
		q.MaxUDPSessions = DefaultMaxUDPSessions
	}
	if q.DialTimeout <= 0 {
		q.DialTimeout = DefaultDialTimeout
	}
	if q.Logf == nil {
		q.Logf = func(string, ...any) {}
	}
	return q
}

// Serve publishes bindings with the default settings until ctx ends.
func Serve(ctx context.Context, bindings []Binding) error {
	return (&Proxy{}).Serve(ctx, bindings)
}

// Serve binds every binding, then forwards until ctx ends; see Bind.
func (p *Proxy) Serve(ctx context.Context, bindings []Binding) error {
	b, err := p.Bind(bindings)
	if err != nil {
		return err
	}
	return b.Serve(ctx)
}

// Bound is a set of bound host ports, not yet forwarding.
type Bound struct {
	p     Proxy
	addrs []netip.AddrPort
	tcp   []*tcpForwarder
	udp   []*udpForwarder
}

// Bind binds the host side of every binding, or none: the first failure
// closes what was bound and is returned, naming the port; a port someone
// holds wraps netplan.ErrPortInUse.
func (p *Proxy) Bind(bindings []Binding) (*Bound, error) {
	b := &Bound{p: p.withDefaults()}
	for _, bd := range bindings {
		if err := b.bind(bd); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *Bound) bind(bd Binding) error {
	if !bd.TargetIP.IsValid() || bd.TargetPort == 0 {
		return fmt.Errorf("publish %s: no target address", bd)
	}
	host := bd.host()
	family := "4"
	if host.Addr().Is6() && !host.Addr().Is4In6() {
		family = "6"
	}
	target := netip.AddrPortFrom(bd.TargetIP.Unmap(), bd.TargetPort)
	var err error
	switch bd.Proto {
	case "tcp":
		var ln *net.TCPListener
		ln, err = net.ListenTCP("tcp"+family, net.TCPAddrFromAddrPort(host))
		if err == nil {
			b.tcp = append(b.tcp, &tcpForwarder{p: &b.p, ln: ln, target: target, conns: map[net.Conn]struct{}{}})
			b.addrs = append(b.addrs, ln.Addr().(*net.TCPAddr).AddrPort())
		}
	case "udp":
		var c *net.UDPConn
		c, err = net.ListenUDP("udp"+family, net.UDPAddrFromAddrPort(host))
		if err == nil {
			b.udp = append(b.udp, &udpForwarder{p: &b.p, conn: c, target: target, sessions: map[netip.AddrPort]*udpSession{}})
			b.addrs = append(b.addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
		}
	default:
		return fmt.Errorf("publish %s: protocol %q is not supported (tcp, udp)", bd, bd.Proto)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("publish %s: host port %s/%s is already in use: %w", bd, host, bd.Proto, netplan.ErrPortInUse)
	}
	if err != nil {
		return fmt.Errorf("publish %s: bind %s/%s: %w", bd, host, bd.Proto, err)
	}
	return nil
}

// ServeTCP forwards connections accepted on ln, bound by someone else
// (rootless: by the CLI in the host's namespace, passed in as a file),
// to target until ctx ends, then closes ln and every connection.
func (p *Proxy) ServeTCP(ctx context.Context, ln *net.TCPListener, target netip.AddrPort) error {
	b := &Bound{p: p.withDefaults(), addrs: []netip.AddrPort{ln.Addr().(*net.TCPAddr).AddrPort()}}
	b.tcp = []*tcpForwarder{{p: &b.p, ln: ln, target: target, conns: map[net.Conn]struct{}{}}}
	return b.Serve(ctx)
}

// ServeUDP is ServeTCP for datagrams received on c.
func (p *Proxy) ServeUDP(ctx context.Context, c *net.UDPConn, target netip.AddrPort) error {
	b := &Bound{p: p.withDefaults(), addrs: []netip.AddrPort{c.LocalAddr().(*net.UDPAddr).AddrPort()}}
	b.udp = []*udpForwarder{{p: &b.p, conn: c, target: target, sessions: map[netip.AddrPort]*udpSession{}}}
	return b.Serve(ctx)
}

// Addrs are the bound host addresses, in the order of the bindings (a
// HostPort 0 shows the port picked).
func (b *Bound) Addrs() []netip.AddrPort { return b.addrs }

// Close releases the ports of a Bound that will not Serve.
func (b *Bound) Close() error {
	var errs []error
	for _, f := range b.tcp {
		errs = append(errs, f.ln.Close())
	}
	for _, f := range b.udp {
		errs = append(errs, f.conn.Close())
	}
	return errors.Join(errs...)
}

// Serve forwards until ctx ends, then closes the ports and every
// connection and session, waits for its goroutines and returns nil.
func (b *Bound) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, f := range b.tcp {
		wg.Go(func() { f.serve(ctx) })
	}
	for _, f := range b.udp {
		wg.Go(func() { f.serve() })
	}
	<-ctx.Done()
	b.Close()
	for _, f := range b.tcp {
		f.closeAll()
	}
	for _, f := range b.udp {
		f.closeAll()
	}
	wg.Wait()
	return nil
}

// UDPSessions is the number of live UDP sessions, over every binding.
func (b *Bound) UDPSessions() int {
	n := 0
	for _, f := range b.udp {
		f.mu.Lock()
		n += len(f.sessions)
		f.mu.Unlock()
	}
	return n
}

// ServeJSON is the entry point of a re-executed proxy process: bindings
// as a JSON array from r, the bound addresses as one JSON line to ready
// once every port is bound, then Serve until ctx ends.
func (p *Proxy) ServeJSON(ctx context.Context, r io.Reader, ready io.Writer) error {
	var bindings []Binding
	if err := json.NewDecoder(r).Decode(&bindings); err != nil {
		return fmt.Errorf("portproxy: read bindings: %w", err)
	}
	b, err := p.Bind(bindings)
	if err != nil {
		return err
	}
	line, _ := json.Marshal(b.Addrs())
	if _, err := fmt.Fprintf(ready, "%s\n", line); err != nil {
		b.Close()
		return fmt.Errorf("portproxy: report ready: %w", err)
	}
	return b.Serve(ctx)
}
