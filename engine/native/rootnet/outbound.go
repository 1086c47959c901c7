package rootnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/portproxy"
)

// OutboundTable is the nftables table (family ip) that StartOutbound
// installs in the project's namespace. It is the project's own namespace,
// so one name serves every project; a restarted supervisor replaces the
// table whole.
const OutboundTable = "hoist-outbound"

// Outbound carries TCP from the containers to the world; see
// StartOutbound.
type Outbound struct {
	ns      *Netns
	ln      *net.TCPListener
	subnets []netip.Prefix
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

// outboundDialTimeout bounds connecting to a container's destination, as
// a kernel's SYN retries would (but shorter).
const outboundDialTimeout = 30 * time.Second

// StartOutbound makes a listener in ns and an nftables table there that
// redirects to it every TCP connection from the IPv4 subnets (the
// containers' networks) to an address outside all of them and outside
// 127.0.0.0/8 and 0.0.0.0/8. Each redirected connection is dialled again,
// to its original destination, from the host's namespace, and the two are
// spliced. A connection whose original destination is the host's loopback
// is refused: the host's 127.0.0.1 services stay out of the containers'
// reach. IPv6 subnets are not carried (left out of the rules). It serves
// until ctx ends or Close; Close removes the table.
func StartOutbound(ctx context.Context, ns *Netns, subnets []netip.Prefix) (*Outbound, error) {
	var v4 []netip.Prefix
	for _, p := range subnets {
		if p.Addr().Is4() {
			v4 = append(v4, p.Masked())
		}
	}
	if len(v4) == 0 {
		return nil, errors.New("rootnet: outbound: no IPv4 subnet to carry")
	}
	l, err := ns.Listen(ctx, "tcp4", "0.0.0.0:0")
	if err != nil {
		return nil, fmt.Errorf("outbound: listen in %s: %w", ns.Path(), err)
	}
	ln := l.(*net.TCPListener)
	port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	if err := ns.Do(func() error { return applyRedirect(v4, port) }); err != nil {
		ln.Close()
		return nil, fmt.Errorf("outbound: nftables in %s: %w", ns.Path(), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	o := &Outbound{ns: ns, ln: ln, subnets: v4, cancel: cancel, conns: map[net.Conn]struct{}{}}
	o.wg.Go(func() { o.serve(ctx) })
	context.AfterFunc(ctx, func() { o.stop() })
	return o, nil
}

// Port is the listener's port in the project's namespace.
func (o *Outbound) Port() uint16 { return o.ln.Addr().(*net.TCPAddr).AddrPort().Port() }

// Close stops carrying, ends every connection, and removes the table.
func (o *Outbound) Close() error {
	o.cancel()
	o.stop()
	o.wg.Wait()
	err := o.ns.Do(deleteRedirect)
	if err != nil {
		return fmt.Errorf("outbound: remove nftables table in %s: %w", o.ns.Path(), err)
	}
	return nil
}

func (o *Outbound) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	o.ln.Close()
	for c := range o.conns {
		c.Close()
	}
}

func (o *Outbound) track(c net.Conn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.conns[c] = struct{}{}
	return true
}

func (o *Outbound) untrack(c net.Conn) {
	o.mu.Lock()
	delete(o.conns, c)
	o.mu.Unlock()
	c.Close()
}

func (o *Outbound) serve(ctx context.Context) {
	for {
		c, err := o.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of fds, say: wait a little, as net/http does.
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !o.track(c) {
			c.Close()
			return
		}
		o.wg.Go(func() {
			defer o.untrack(c)
			o.carry(ctx, c)
		})
	}
}

// carry dials c's original destination from the host's namespace and
// splices the two.
func (o *Outbound) carry(ctx context.Context, c *net.TCPConn) {
	dst, err := originalDst(c)
	if err != nil || !o.allowed(dst, c.LocalAddr().(*net.TCPAddr).AddrPort()) {
		return
	}
	d := net.Dialer{Timeout: outboundDialTimeout}
	up, err := d.DialContext(ctx, "tcp4", dst.String())
	if err != nil {
		return // the container sees a reset, as from a refused connect
	}
	if !o.track(up) {
		up.Close()
		return
	}
	defer o.untrack(up)
	portproxy.Splice(c, up.(*net.TCPConn))
}

// allowed says whether a redirected connection to dst may be dialled from
// the host. local is the listener's end of it: a connection made to the
// listener itself, not redirected, has it as its original destination.
func (o *Outbound) allowed(dst, local netip.AddrPort) bool {
	if dst == local || o.inSubnets(dst.Addr()) {
		return false
	}
	return hostMayDial(dst.Addr())
}

func (o *Outbound) inSubnets(a netip.Addr) bool {
	for _, p := range o.subnets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hostMayDial says whether a container's connection to a may be dialled
// from the host's namespace: never to the host's loopback, which the
// kernel also reaches through 0.0.0.0/8, nor to multicast or broadcast.
func hostMayDial(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() || a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	b := a.As4()
	return b[0] != 0 && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// originalDst is the destination c was sent to before the redirect
// (netfilter's SO_ORIGINAL_DST, a sockaddr_in).
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var sa [unix.SizeofSockaddrInet4]byte
	var gerr error
	err = rc.Control(func(fd uintptr) {
		l := uint32(len(sa))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_IP, unix.SO_ORIGINAL_DST,
			uintptr(unsafe.Pointer(&sa[0])), uintptr(unsafe.Pointer(&l)), 0)
		if errno != 0 {
			gerr = errno
		}
	})
	if err == nil {
		err = gerr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST: %w", err)
	}
	// sockaddr_in: family (host order), port and address (network order).
	port := binary.BigEndian.Uint16(sa[2:4])
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port), nil
}

func outboundTable() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: OutboundTable}
}

// applyRedirect makes the calling thread's namespace's OutboundTable
// redirect the subnets' outbound TCP to port, in one transaction:
//
//	chain prerouting (nat, dstnat): per subnet S
//	    meta l4proto tcp ip saddr S ip daddr != 127.0.0.0/8 ip daddr != 0.0.0.0/8
//	        ip daddr != <each subnet> redirect to :port
func applyRedirect(subnets []netip.Prefix, port uint16) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := c.AddTable(outboundTable())
	c.FlushTable(t)
	ch := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	excluded := append([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("0.0.0.0/8")}, subnets...)
	for _, s := range subnets {
		e := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		}
		e = append(e, prefixMatch(12, s, expr.CmpOpEq)...)
		for _, x := range excluded {
			e = append(e, prefixMatch(16, x, expr.CmpOpNeq)...)
		}
		e = append(e,
			&expr.Immediate{Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
			&expr.Redir{RegisterProtoMin: 1},
		)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e})
	}
	return c.Flush()
}

// prefixMatch compares the IPv4 address at offset in the network header
// (12 source, 16 destination) with p.
func prefixMatch(offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	mask := make([]byte, 4)
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()},
	}
}

// deleteRedirect removes the calling thread's namespace's OutboundTable,
// if there is one.
func deleteRedirect() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if _, err := c.ListTableOfFamily(OutboundTable, nftables.TableFamilyIPv4); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	c.DelTable(outboundTable())
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}
