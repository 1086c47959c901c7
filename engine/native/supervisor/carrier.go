package supervisor

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hoist-dev/hoist/engine/native/network"
	"github.com/hoist-dev/hoist/engine/native/rootnet"
)

// DNSUpstreamsEnv names, in a rootless supervisor's environment, the
// resolvers its DNS forwarders ask (comma-separated address:port), in
// place of /etc/resolv.conf's: a test points them at its own resolver.
const DNSUpstreamsEnv = "HOIST_DNS_UPSTREAMS"

// carrier carries a rootless project's outbound TCP and DNS
// (engine/native/rootnet): one Outbound for the project's namespace,
// given every subnet of the project's networks (and of the user's other
// projects), and a DNS forwarder on
// the gateway of each network that is not internal. sync reads the
// project's networks again; it runs when the supervisor starts and before
// each container starts, which is after its networks were made.
type carrier struct {
	ns   *rootnet.Netns
	dir  string // the project's run dir, whose net/networks it reads
	logf func(string, ...any)

	mu      sync.Mutex
	out     *rootnet.Outbound
	subnets []netip.Prefix
	dns     map[netip.Addr]*rootnet.DNS
}

// sync brings the carrier in line with the project's networks. A failure
// is logged, not returned: the containers run without outbound traffic
// rather than not at all.
func (c *carrier) sync() {
	if err := c.syncErr(); err != nil {
		c.logf("rootless network: %v", err)
	}
}

func (c *carrier) syncErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	nets, err := network.ProjectNetworks(c.dir)
	if err != nil {
		return err
	}
	// The user's other projects' subnets are given too, so that a
	// connection to one is not carried: the host has no route to them (they
	// are in those projects' namespaces) and would send it to its default
	// route. Left in this namespace, it finds no route and fails there.
	subnets, err := userSubnets(filepath.Dir(c.dir))
	if err != nil {
		return err
	}
	for _, n := range nets {
		if n.Subnet.IsValid() && !slices.Contains(subnets, n.Subnet) {
			subnets = append(subnets, n.Subnet)
		}
	}
	slices.SortFunc(subnets, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	if len(subnets) > 0 && !slices.Equal(subnets, c.subnets) {
		if c.out == nil {
			out, err := rootnet.StartOutbound(context.Background(), c.ns, subnets)
			if err != nil {
				return err
			}
			c.out = out
		} else if err := c.out.SetSubnets(subnets); err != nil {
			return err
		}
		c.subnets = subnets
	}
	if c.dns == nil {
		c.dns = map[netip.Addr]*rootnet.DNS{}
	}
	want := map[netip.Addr]bool{}
	for _, n := range nets {
		if !n.Internal && n.Gateway.Is4() {
			want[n.Gateway] = true
		}
	}
	for gw, d := range c.dns {
		if !want[gw] {
			d.Close()
			delete(c.dns, gw)
		}
	}
	var ups []netip.AddrPort
	for gw := range want {
		if c.dns[gw] != nil {
			continue
		}
		if ups == nil {
			if ups, err = upstreams(); err != nil {
				return err
			}
		}
		d, err := rootnet.StartDNS(context.Background(), c.ns, gw, ups)
		if err != nil {
			return err
		}
		c.dns[gw] = d
	}
	return nil
}

// close stops carrying.
func (c *carrier) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.dns {
		d.Close()
	}
	if c.out != nil {
		c.out.Close()
	}
}

// userSubnets lists the subnets of every project in runDir.
func userSubnets(runDir string) ([]netip.Prefix, error) {
	ents, err := os.ReadDir(runDir)
	if err != nil {
		return nil, fmt.Errorf("read projects: %w", err)
	}
	var out []netip.Prefix
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		nets, err := network.ProjectNetworks(filepath.Join(runDir, e.Name()))
		if err != nil {
			continue // not a project, or one going away
		}
		for _, n := range nets {
			if n.Subnet.IsValid() && !slices.Contains(out, n.Subnet) {
				out = append(out, n.Subnet)
			}
		}
	}
	return out, nil
}

// upstreams are DNSUpstreamsEnv's resolvers, or the host's.
func upstreams() ([]netip.AddrPort, error) {
	v := os.Getenv(DNSUpstreamsEnv)
	if v == "" {
		return rootnet.HostResolvers("/etc/resolv.conf")
	}
	var out []netip.AddrPort
	for _, s := range strings.Split(v, ",") {
		a, err := netip.ParseAddrPort(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", DNSUpstreamsEnv, err)
		}
		out = append(out, a)
	}
	return out, nil
}
