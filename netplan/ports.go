// Package netplan plans a compose project's networking without touching the
// host: published ports and their conflicts, subnets, container addresses and
// DNS records. Engines apply the plan; netplan only computes it, so every
// decision is a table test away.
//
// The only impure pieces (HostProbe, HostRoutes) live in their own files and
// are passed in by callers, so the rest stays deterministic.
package netplan

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/runspec"
)

// Binding is one host port published for one container port.
type Binding struct {
	Service string
	// HostIP is where the port is published; an unspecified address
	// (0.0.0.0 or ::) means every address, as Docker does.
	HostIP netip.Addr
	// HostPort is the published port; 0 lets the engine pick a random one.
	HostPort uint16
	// HostPortEnd, when above HostPort, makes HostPort..HostPortEnd a range
	// from which one free port is picked (compose's "9000-9010:80").
	// Resolve pins it to a single port.
	HostPortEnd   uint16
	ContainerPort uint16
	Protocol      string // "tcp", "udp" or "sctp"
}

// String renders b in compose's short syntax, service first, for messages
// and test output.
func (b Binding) String() string {
	host := strconv.Itoa(int(b.HostPort))
	if b.HostPortEnd > b.HostPort {
		host += "-" + strconv.Itoa(int(b.HostPortEnd))
	}
	return fmt.Sprintf("%s %s:%s:%d/%s", b.Service, addrString(b.HostIP), host, b.ContainerPort, b.Protocol)
}

// isRange reports whether the host port still has to be chosen from a range.
func (b Binding) isRange() bool { return b.HostPortEnd > b.HostPort }

// Ports lists the published ports of every service in project, sorted by
// service, host IP, host port, container port and protocol.
//
// compose-go already expands short-syntax ranges ("8000-8002:8000-8002"
// becomes three ports) and keeps a host range for a single container port
// ("9000-9001:80") as the string "9000-9001" in Published; long syntax
// keeps whatever string was written. Both arrive here as ServicePortConfig.
//
// A service scaled above one replica cannot publish a fixed host port: the
// second replica would collide with the first. With a host range it gets one
// Binding per replica, each needing its own port from the range.
func Ports(project *types.Project) ([]Binding, error) {
	var out []Binding
	var errs []string
	for _, name := range slices.Sorted(maps.Keys(project.Services)) {
		svc := project.Services[name]
		replicas := svc.GetScale()
		for _, p := range svc.Ports {
			b, err := portBinding(name, p)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			switch {
			case replicas > 1 && b.HostPort != 0 && !b.isRange():
				errs = append(errs, fmt.Sprintf("service %q: port %q: %d replicas cannot all publish host port %d; use a host port range with at least %d ports (e.g. %q), or leave the host port out for random ports",
					name, portString(p), replicas, b.HostPort, replicas, suggestRange(b, replicas)))
				continue
			case replicas > 1 && b.isRange() && int(b.HostPortEnd-b.HostPort)+1 < replicas:
				errs = append(errs, fmt.Sprintf("service %q: port %q: %d replicas need %d host ports but the range has %d; widen the range (e.g. %q)",
					name, portString(p), replicas, replicas, int(b.HostPortEnd-b.HostPort)+1, suggestRange(b, replicas)))
				continue
			}
			out = append(out, b)
			if b.isRange() {
				for i := 1; i < replicas; i++ {
					out = append(out, b)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%s", ErrInvalidPort, strings.Join(errs, "\n"))
	}
	sortBindings(out)
	return out, nil
}

// ContainerPorts are the bindings of one container with ports, checked as
// Ports checks a service's, sorted.
func ContainerPorts(ports []runspec.Port) ([]Binding, error) {
	var out []Binding
	for _, p := range ports {
		b, err := portBinding("", types.ServicePortConfig{Target: p.ContainerPort, Protocol: p.Protocol, HostIP: p.HostIP, Published: p.HostPort})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidPort, err)
		}
		out = append(out, b)
	}
	sortBindings(out)
	return out, nil
}

// suggestRange proposes a host range large enough for n replicas, starting
// at the port the user already chose.
func suggestRange(b Binding, n int) string {
	end := int(b.HostPort) + n - 1
	if end > 65535 {
		end = 65535
	}
	return fmt.Sprintf("%d-%d:%d", b.HostPort, end, b.ContainerPort)
}

func portBinding(service string, p types.ServicePortConfig) (Binding, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("service %q: port %q: %s", service, portString(p), fmt.Sprintf(format, args...))
	}
	b := Binding{Service: service, Protocol: strings.ToLower(p.Protocol)}
	switch b.Protocol {
	case "":
		b.Protocol = "tcp"
	case "tcp", "udp", "sctp":
	default:
		return Binding{}, fail("unknown protocol %q; use tcp, udp or sctp", p.Protocol)
	}
	switch p.Mode {
	case "", "ingress", "host":
		// On one host both modes publish on the host itself.
	default:
		return Binding{}, fail("unknown mode %q; use ingress or host", p.Mode)
	}
	if p.Target < 1 || p.Target > 65535 {
		return Binding{}, fail("container port %d is out of range; use 1-65535", p.Target)
	}
	b.ContainerPort = uint16(p.Target)

	b.HostIP = netip.IPv4Unspecified()
	if p.HostIP != "" {
		ip, err := netip.ParseAddr(strings.Trim(p.HostIP, "[]"))
		if err != nil || ip.Zone() != "" {
			return Binding{}, fail("invalid host IP %q; use an address such as 127.0.0.1 or ::1", p.HostIP)
		}
		b.HostIP = ip.Unmap()
	}

	if p.Published != "" {
		lo, hi, ok := parseRange(p.Published)
		if !ok {
			return Binding{}, fail("invalid host port %q; use a number 1-65535 or a range such as 8000-8010", p.Published)
		}
		b.HostPort = lo
		if hi > lo {
			b.HostPortEnd = hi
		}
	}
	return b, nil
}

// parseRange parses "8000" or "8000-8010"; 0 and reversed ranges are invalid.
func parseRange(s string) (lo, hi uint16, ok bool) {
	a, z, isRange := strings.Cut(s, "-")
	if !isRange {
		z = a
	}
	l, err1 := strconv.ParseUint(a, 10, 16)
	h, err2 := strconv.ParseUint(z, 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, false
	}
	return uint16(l), uint16(h), true
}

// portString renders a port config back into short syntax so errors quote
// something close to what the user wrote, whichever syntax they used.
func portString(p types.ServicePortConfig) string {
	var sb strings.Builder
	if p.HostIP != "" {
		if strings.Contains(p.HostIP, ":") && !strings.HasPrefix(p.HostIP, "[") {
			sb.WriteString("[" + p.HostIP + "]:")
		} else {
			sb.WriteString(p.HostIP + ":")
		}
	}
	if p.Published != "" || p.HostIP != "" {
		sb.WriteString(p.Published + ":")
	}
	sb.WriteString(strconv.FormatUint(uint64(p.Target), 10))
	if p.Protocol != "" && p.Protocol != "tcp" {
		sb.WriteString("/" + p.Protocol)
	}
	return sb.String()
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.String()
}

func sortBindings(bs []Binding) {
	slices.SortStableFunc(bs, func(a, b Binding) int {
		if c := strings.Compare(a.Service, b.Service); c != 0 {
			return c
		}
		if c := a.HostIP.Compare(b.HostIP); c != 0 {
			return c
		}
		if c := int(a.HostPort) - int(b.HostPort); c != 0 {
			return c
		}
		if c := int(a.ContainerPort) - int(b.ContainerPort); c != 0 {
			return c
		}
		return strings.Compare(a.Protocol, b.Protocol)
	})
}
