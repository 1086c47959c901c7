package supervise

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
	"github.com/hoist-dev/hoist/netplan"
)

// Published ports are served by the project's supervisor, for every
// container: it binds those of its own containers at Start, and those of
// a container hoist run runs itself at Publish. proxy.json records what
// was bound, for ps and port.

// bindings picks the host ports of r (ranges resolved, netplan's clear
// error for a port in use) forwarded to the container's address addr.
func bindings(r *store.Record, addr string) ([]portproxy.Binding, []netplan.Binding, error) {
	target, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("container address: %w", err)
	}
	ports := make([]netplan.Binding, len(r.Ports))
	for i, p := range r.Ports {
		ports[i] = netplan.Binding{Service: p.Service, HostPort: p.HostPort, HostPortEnd: p.HostPortEnd, ContainerPort: p.ContainerPort, Protocol: p.Protocol}
		if p.HostIP != "" {
			if ports[i].HostIP, err = netip.ParseAddr(p.HostIP); err != nil {
				return nil, nil, fmt.Errorf("port %s: %w", ports[i], err)
			}
		}
	}
	resolved, err := netplan.Resolve(ports, netplan.CheckOptions{Probe: netplan.HostProbe})
	if err != nil {
		return nil, nil, err
	}
	var out []portproxy.Binding
	for _, p := range resolved {
		out = append(out, portproxy.Binding{HostIP: p.HostIP, HostPort: p.HostPort, Proto: p.Protocol, TargetIP: target, TargetPort: p.ContainerPort})
	}
	return out, resolved, nil
}

// recordPorts writes the bound ports (the supervisor's addresses, in the
// order of the bindings) to proxy.json.
func (s Supervisors) recordPorts(r *store.Record, resolved []netplan.Binding, addrs []string) error {
	rec := store.Proxy{}
	for i, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || i >= len(resolved) {
			continue
		}
		rec.Ports = append(rec.Ports, engine.PortBinding{HostIP: ap.Addr().String(), HostPort: ap.Port(), ContainerPort: resolved[i].ContainerPort, Protocol: resolved[i].Protocol})
	}
	return store.WriteJSON(s.Layout.ProxyPath(r), rec)
}

// Publish has the project's supervisor (started if need be) bind r's
// published ports, forwarded to r's address addr, for a container this
// process runs itself (hoist run): nil when it publishes none. The caller
// starts the container, then commits the publication with its init, or
// aborts it.
func (s Supervisors) Publish(ctx context.Context, r *store.Record, addr string) (*supervisor.Publication, error) {
	if len(r.Ports) == 0 || addr == "" {
		return nil, nil
	}
	// What an earlier run left (its starter died) goes first.
	if err := s.Unpublish(ctx, r); err != nil {
		return nil, err
	}
	ports, resolved, err := bindings(r, addr)
	if err != nil {
		return nil, err
	}
	sup, err := s.Ensure(ctx, r.Project)
	if err != nil {
		return nil, err
	}
	pub, err := sup.Publish(ctx, r.ID, ports)
	if err != nil {
		return nil, err
	}
	if err := s.recordPorts(r, resolved, pub.Addrs); err != nil {
		pub.Abort()
		return nil, err
	}
	return pub, nil
}

// Unpublish ends what serves r's ports, if anything, and returns once
// they are free: the supervisor's publication, or the port proxy process
// an earlier version of hoist ran for attached containers (proxy.json
// names it).
func (s Supervisors) Unpublish(ctx context.Context, r *store.Record) error {
	path := s.Layout.ProxyPath(r)
	var rec store.Proxy
	if err := store.ReadJSON(path, &rec); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("port proxy: %w", err)
	}
	if rec.Pid > 0 {
		if err := stopLegacyProxy(rec.Pid, rec.StartTime, s.Layout.StateDir(r.Project, r.ID)); err != nil {
			return fmt.Errorf("port proxy (pid %d): %w", rec.Pid, err)
		}
	} else if c := s.Live(ctx, r.Project); c != nil {
		if err := c.Unpublish(ctx, r.ID); err != nil {
			return fmt.Errorf("unpublish: %w", err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
