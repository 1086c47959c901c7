package netplan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// HostProbe is the Probe that asks the kernel: it binds b's host address and
// port (TCP listen or UDP listen-packet) and closes the socket at once. It
// sends no traffic.
//
// A permission error (a port below 1024 when not root) is reported as free:
// the engine that really binds (the Docker daemon, a privileged supervisor)
// may well be allowed to, and only a holder is a conflict. SCTP is not
// probed, since the standard library cannot open it.
func HostProbe(b Binding) error {
	ip := b.HostIP
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	addr := netip.AddrPortFrom(ip, b.HostPort).String()
	var err error
	switch b.Protocol {
	case "tcp", "":
		var l net.Listener
		if l, err = net.Listen(listenNet("tcp", ip), addr); err == nil {
			return l.Close()
		}
	case "udp":
		var c net.PacketConn
		if c, err = net.ListenPacket(listenNet("udp", ip), addr); err == nil {
			return c.Close()
		}
	default:
		return nil
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w: %w", ErrPortInUse, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return nil
	}
	return err
}

// listenNet pins the address family, so 0.0.0.0 probes IPv4 only rather
// than letting Go widen it to a dual-stack socket.
func listenNet(proto string, ip netip.Addr) string {
	if ip.Is4() {
		return proto + "4"
	}
	return proto + "6"
}
