package docker

import (
	"fmt"
	"strings"

	"github.com/docker/go-connections/nat"

	"github.com/hoist-dev/hoist/runspec"
)

// ports converts published ports and expose entries. compose-go yields one
// ServicePortConfig per container port; Published may be empty (a random
// host port), a single port or a range ("8000-8010": the daemon picks one).
func ports(published []runspec.Port, expose []string) (nat.PortSet, nat.PortMap, error) {
	set := nat.PortSet{}
	bindings := nat.PortMap{}
	for _, p := range published {
		proto := strings.ToLower(p.Protocol)
		if p.ContainerPort == 0 || p.ContainerPort > 65535 {
			return nil, nil, fmt.Errorf("invalid container port %d", p.ContainerPort)
		}
		port, err := nat.NewPort(proto, fmt.Sprint(p.ContainerPort))
		if err != nil {
			return nil, nil, fmt.Errorf("port %d/%s: %w", p.ContainerPort, proto, err)
		}
		set[port] = struct{}{}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: p.HostIP, HostPort: p.HostPort})
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
