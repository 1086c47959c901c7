package network

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostRoutes lists the IPv4 prefixes routed in the calling thread's
// network namespace, every table, without default routes: the default for
// Options.HostRoutes.
//
// It asks netlink rather than reading /proc/net/route (netplan.HostRoutes),
// because /proc/net is /proc/self/net, the namespace of the process's main
// thread, and a Go program that joins a container's namespace on a locked
// thread (runtime.Exec does, for healthchecks) may leave the main thread
// wedged in it; a subnet then picked would ignore the host's routes. An
// unlocked goroutine always runs on a thread in the host's namespace.
func hostRoutes() ([]netip.Prefix, error) {
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok || ones == 0 {
			continue
		}
		out = append(out, netip.PrefixFrom(a, ones).Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out), nil
}
