package rootnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine/native/portproxy"
)

// PublishTCP forwards every connection accepted on ln, a listener bound
// in the host's namespace, to target dialled from inside ns, until ctx
// ends; then it closes ln and every connection and returns. Settings such
// as the dial timeout or a logger are portproxy.Proxy's: use its ServeTCP
// with Dial set to ns.Dial for those.
func PublishTCP(ctx context.Context, ns *Netns, ln *net.TCPListener, target netip.AddrPort) error {
	return (&portproxy.Proxy{Dial: ns.Dial}).ServeTCP(ctx, ln, target)
}

// PublishUDP forwards datagrams received on c, bound in the host's
// namespace, to target from inside ns, one flow (a socket in ns) per
// client address that ends after idle (portproxy's default when 0)
// without traffic, until ctx ends; then it closes c and every flow.
func PublishUDP(ctx context.Context, ns *Netns, c *net.UDPConn, target netip.AddrPort, idle time.Duration) error {
	return (&portproxy.Proxy{Dial: ns.Dial, UDPIdleTimeout: idle}).ServeUDP(ctx, c, target)
}

const unprivilegedPortStart = "/proc/sys/net/ipv4/ip_unprivileged_port_start"

// CheckHostPort refuses a host port that an ordinary user cannot bind in
// this thread's network namespace (the host's), naming the sysctl, so
// that a rootless project is refused before anything is made. Port 0 (any
// free port) is fine.
func CheckHostPort(port uint16) error {
	return checkHostPort(unprivilegedPortStart, port)
}

func checkHostPort(sysctl string, port uint16) error {
	if port == 0 {
		return nil
	}
	b, err := os.ReadFile(sysctl)
	if err != nil {
		return fmt.Errorf("read net.ipv4.ip_unprivileged_port_start: %w", err)
	}
	start, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("read net.ipv4.ip_unprivileged_port_start: %q: %w", b, err)
	}
	if int(port) < start {
		return fmt.Errorf("host port %d is below net.ipv4.ip_unprivileged_port_start (%d), which a rootless project cannot bind: publish a port from %d up, or lower the sysctl as root (sysctl net.ipv4.ip_unprivileged_port_start=%d)",
			port, start, start, port)
	}
	return nil
}
