package netplan

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// ContainerRef is one container as DNS sees it.
type ContainerRef struct {
	Name    string // container name, e.g. "proj-web-1" or container_name
	Service string
	Number  int // replica number, 1-based
	// IPs maps the compose network key ("default", "backend") to the
	// container's address on it.
	IPs map[string]netip.Addr
}

// Record says that Name resolves to IP, the address of Container. A name
// can have several records (a scaled service, a shared alias); A or AAAA
// follows from IP.
type Record struct {
	Name      string // lower case
	Container string
	IP        netip.Addr
}

// DNSRecords computes, per compose network key (the key under the project's
// "networks", as in ContainerRef.IPs and a service's "networks"), the names
// the network's DNS answers: for each container attached to it, its
// container name, its service name (unless use_service_name_alias is false),
// the service's aliases on that network and its hostname.
//
// Names are lower case, since DNS is case-insensitive. Records are sorted by
// name, then address, then container; networks with no records are absent.
// "internal" networks resolve like any other: internal only cuts the way
// out, not names within.
func DNSRecords(project *types.Project, containers []ContainerRef) map[string][]Record {
	out := map[string][]Record{}
	for _, c := range containers {
		svc, hasSvc := project.Services[c.Service]
		for net, ip := range c.IPs {
			if !ip.IsValid() {
				continue
			}
			names := []string{c.Name}
			if hasSvc {
				attach := svc.Networks[net]
				if attach.ServiceNameAliasEnabled() {
					names = append(names, c.Service)
				}
				if attach != nil {
					names = append(names, attach.Aliases...)
				}
				names = append(names, svc.Hostname)
			}
			for _, n := range names {
				if n = strings.ToLower(strings.TrimSuffix(n, ".")); n != "" {
					out[net] = append(out[net], Record{Name: n, Container: c.Name, IP: ip.Unmap()})
				}
			}
		}
	}
	for net, rs := range out {
		slices.SortFunc(rs, func(a, b Record) int {
			return cmp.Or(strings.Compare(a.Name, b.Name), a.IP.Compare(b.IP), strings.Compare(a.Container, b.Container))
		})
		out[net] = slices.Compact(rs)
	}
	return out
}
