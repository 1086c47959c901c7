package netplan

import (
	"fmt"
	"net/netip"
)

// Gateway is the address the bridge takes in subnet: the first host
// address, as Docker does.
func Gateway(subnet netip.Prefix) netip.Addr {
	return subnet.Masked().Addr().Next()
}

// AssignIPs gives each name (a container on the network) an address in
// subnet. names is the whole membership: entries of existing that are not in
// names are released.
//
// A container keeps its existing address when that is still inside subnet,
// not reserved (network, gateway, IPv4 broadcast) and not already kept by an
// earlier name; so restarts and recreates do not move containers. The others
// get the lowest free addresses, in names order, so the same input always
// gives the same plan.
func AssignIPs(subnet netip.Prefix, names []string, existing map[string]netip.Addr) (map[string]netip.Addr, error) {
	if !subnet.IsValid() {
		return nil, fmt.Errorf("%w: invalid subnet %v", ErrAddress, subnet)
	}
	subnet = subnet.Masked()
	gw := Gateway(subnet)
	reserved := func(a netip.Addr) bool {
		return a == subnet.Addr() || a == gw || (a.Is4() && a == lastAddr(subnet))
	}
	out := make(map[string]netip.Addr, len(names))
	used := map[netip.Addr]bool{}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return nil, fmt.Errorf("%w: container %q listed twice for subnet %s", ErrAddress, n, subnet)
		}
		seen[n] = true
		a, ok := existing[n]
		if !ok {
			continue
		}
		if a.Is4In6() {
			a = a.Unmap()
		}
		if subnet.Contains(a) && !reserved(a) && !used[a] {
			out[n] = a
			used[a] = true
		}
	}
	// The cursor only moves forward: anything behind it is used or reserved.
	next := gw.Next()
	for _, n := range names {
		if _, ok := out[n]; ok {
			continue
		}
		for next.IsValid() && subnet.Contains(next) && (used[next] || reserved(next)) {
			next = next.Next()
		}
		if !next.IsValid() || !subnet.Contains(next) {
			return nil, fmt.Errorf("%w: subnet %s is full: no address left for container %q (%d containers); use a larger subnet",
				ErrAddress, subnet, n, len(names))
		}
		out[n] = next
		used[next] = true
		next = next.Next()
	}
	return out, nil
}

// lastAddr is the highest address of p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		hostBits := len(b)*8 - p.Bits() - (len(b)-1-i)*8
		switch {
		case hostBits >= 8:
			b[i] = 0xff
		case hostBits > 0:
			b[i] |= byte(1<<hostBits - 1)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
