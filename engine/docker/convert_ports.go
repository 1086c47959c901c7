package docker

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-connections/nat"
)

// ports converts published ports and expose entries. compose-go yields one
// ServicePortConfig per container port; Published may be empty (a random
// host port), a single port or a range ("8000-8010": the daemon picks one).
func ports(published []types.ServicePortConfig, expose types.StringOrNumberList) (nat.PortSet, nat.PortMap, error) {
	set := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range published {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if p.Target == 0 || p.Target > 65535 {
			return nil, nil, fmt.Errorf("invalid container port %d", p.Target)
		}
		port, err := nat.NewPort(proto, fmt.Sprint(p.Target))
		if err != nil {
			return nil, nil, fmt.Errorf("port %d/%s: %w", p.Target, proto, err)
		}
		set[port] = struct{}{}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: p.HostIP, HostPort: p.Published})
	}
	for _, e := range expose {
		proto, portRange := nat.SplitProtoPort(e)
		if portRange == "" {
			return nil, nil, fmt.Errorf("invalid expose %q", e)
		}
		start, end, err := nat.ParsePortRangeToInt(portRange)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid expose %q: %w", e, err)
		}
		for n := start; n <= end; n++ {
			port, err := nat.NewPort(proto, fmt.Sprint(n))
			if err != nil {
				return nil, nil, fmt.Errorf("invalid expose %q: %w", e, err)
			}
			set[port] = struct{}{}
		}
	}
	if len(set) == 0 {
		return nil, nil, nil
	}
	if len(bindings) == 0 {
		bindings = nil
	}
	return set, bindings, nil
}
