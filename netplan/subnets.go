package netplan

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// SubnetRequest asks for one network's subnet.
type SubnetRequest struct {
	// Name is the engine-level network name ("proj_default"), which is
	// unique on the host, unlike the compose key.
	Name string
	// Subnet is the subnet the network must get (compose ipam.config, or the
	// one an existing network already has); the zero Prefix means "any free
	// one from the pool".
	Subnet netip.Prefix
}

// pool is one block of Docker's default address pools, carved into subnets
// of Bits each. The table mirrors dockerd's defaults so hoist networks land
// where users expect Docker's.
type pool struct {
	base netip.Prefix
	bits int
}

// defaultPools is Docker's default table: 172.17.0.0/16 … 172.31.0.0/16,
// then 192.168.0.0/16 in /20 steps.
var defaultPools = []pool{
	{netip.MustParsePrefix("172.17.0.0/16"), 16},
	{netip.MustParsePrefix("172.18.0.0/15"), 16},
	{netip.MustParsePrefix("172.20.0.0/14"), 16},
	{netip.MustParsePrefix("172.24.0.0/13"), 16},
	{netip.MustParsePrefix("192.168.0.0/16"), 20},
}

// SubnetRequests lists the networks of project that hoist creates itself
// (not external, not the host or none drivers), sorted by engine name, each
// with its first IPv4 ipam.config subnet if one is given. IPv6 subnets are
// not planned yet and are left out.
func SubnetRequests(project *types.Project) ([]SubnetRequest, error) {
	var reqs []SubnetRequest
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(project.Networks)) {
		n := project.Networks[key]
		if bool(n.External) || n.Driver == "host" || n.Driver == "none" {
			continue
		}
		r := SubnetRequest{Name: n.Name}
		if r.Name == "" {
			r.Name = project.Name + "_" + key
		}
		for _, c := range n.Ipam.Config {
			if c == nil || c.Subnet == "" {
				continue
			}
			p, err := netip.ParsePrefix(c.Subnet)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: network %q: invalid ipam subnet %q; use CIDR notation such as 172.28.0.0/16", ErrSubnet, key, c.Subnet))
				continue
			}
			if p.Addr().Is4() && !r.Subnet.IsValid() {
				r.Subnet = p.Masked()
			}
		}
		reqs = append(reqs, r)
	}
	slices.SortFunc(reqs, func(a, b SubnetRequest) int { return strings.Compare(a.Name, b.Name) })
	return reqs, errors.Join(errs...)
}

// AllocateSubnets gives every request a subnet. Explicit subnets are kept
// as asked, and refused when they overlap taken or each other; the rest get
// the first pool subnet overlapping neither taken nor anything allocated
// before, in name order, so the same input always gives the same plan.
//
// taken holds what is not ours: host routes (HostRoutes) and other
// projects' networks. A network of this project that already exists should
// come in as an explicit request with its current subnet, and not in taken.
func AllocateSubnets(reqs []SubnetRequest, taken []netip.Prefix) (map[string]netip.Prefix, error) {
	sorted := slices.Clone(reqs)
	slices.SortStableFunc(sorted, func(a, b SubnetRequest) int { return strings.Compare(a.Name, b.Name) })

	out := map[string]netip.Prefix{}
	owner := map[netip.Prefix]string{}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrSubnet}, args...)...))
	}
	for i, r := range sorted {
		if r.Name == "" {
			fail("network with no name")
		} else if i > 0 && sorted[i-1].Name == r.Name {
			fail("network %q requested twice", r.Name)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Explicit first, so the pool steps around them whatever their names.
	for _, r := range sorted {
		if !r.Subnet.IsValid() {
			continue
		}
		s := r.Subnet.Masked()
		if t, ok := firstOverlap(s, taken); ok {
			fail("network %q: subnet %s overlaps %s, already in use on this host (a route or another network); choose another ipam subnet, or remove it to get a free one", r.Name, s, t)
			continue
		}
		if o, ok := firstOverlap(s, slices.Collect(maps.Keys(owner))); ok {
			fail("network %q: subnet %s overlaps subnet %s of network %q; give each network its own subnet", r.Name, s, o, owner[o])
			continue
		}
		out[r.Name] = s
		owner[s] = r.Name
	}
	for _, r := range sorted {
		if r.Subnet.IsValid() {
			continue
		}
		s, ok := nextFree(taken, out)
		if !ok {
			fail("network %q: no free subnet left in the default pools (172.17.0.0/16-172.31.0.0/16, 192.168.0.0/16 in /20s); remove unused networks or set an ipam subnet", r.Name)
			continue
		}
		out[r.Name] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func nextFree(taken []netip.Prefix, allocated map[string]netip.Prefix) (netip.Prefix, bool) {
	used := slices.AppendSeq(slices.Clone(taken), maps.Values(allocated))
	for _, p := range defaultPools {
		for s := range subnetsOf(p) {
			if _, clash := firstOverlap(s, used); !clash {
				return s, true
			}
		}
	}
	return netip.Prefix{}, false
}

// subnetsOf walks p.base in steps of p.bits, lowest first.
func subnetsOf(p pool) func(func(netip.Prefix) bool) {
	return func(yield func(netip.Prefix) bool) {
		step := uint32(1) << (32 - p.bits)
		base := p.base.Masked().Addr().As4()
		start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
		n := uint32(1) << (p.bits - p.base.Bits())
		for i := range n {
			a := start + i*step
			s := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), p.bits)
			if !yield(s) {
				return
			}
		}
	}
}

// firstOverlap returns the lowest prefix of set that overlaps p, so error
// messages name the same one every time.
func firstOverlap(p netip.Prefix, set []netip.Prefix) (netip.Prefix, bool) {
	var hits []netip.Prefix
	for _, s := range set {
		if s.IsValid() && s.Overlaps(p) {
			hits = append(hits, s)
		}
	}
	if len(hits) == 0 {
		return netip.Prefix{}, false
	}
	return slices.MinFunc(hits, comparePrefix), true
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
