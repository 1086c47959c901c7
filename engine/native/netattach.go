package native

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/network"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// networker connects containers to their networks; bridgeNetworker, on
// engine/native/network, is the one the engine uses.
type networker interface {
	// check validates r's network settings at create.
	check(r *record) error
	// attach prepares the network before the container starts: the
	// namespace it joins, and for compose networks the managed hosts file
	// and its address.
	attach(ctx context.Context, r *record) (attachment, error)
	// detach undoes attach after the container exited; its addresses stay
	// reserved for its next start. It must be idempotent.
	detach(ctx context.Context, r *record) error
	// release is detach for a container removed for good: its addresses
	// are given up too.
	release(ctx context.Context, r *record) error
	// unsupported lists, for the Unsupported warning, what this networker
	// does not apply of the settings in r.
	unsupported(networks int) []string
}

// attachment is what the container starts with.
type attachment struct {
	Network runtime.Network
	// Hosts, when set, is bind-mounted on /etc/hosts instead of the
	// container's own file: the network manager's, rewritten as the
	// project's containers come and go.
	Hosts string
	// IP is the address on the first network, where published ports go;
	// zero without a compose network.
	IP netip.Addr
}

// bridgeNetworker gives containers on compose networks a namespace with a
// veth on each network's bridge (network.Manager); none gets lo only, host
// the host's namespace, container:<x> x's.
type bridgeNetworker struct {
	b *Backend
	m *network.Manager
}

// bridged reports whether r is on compose networks.
func bridged(r *record) bool { return r.NetworkMode == "" && len(r.Networks) > 0 }

func (n bridgeNetworker) check(r *record) error {
	for _, a := range r.Networks {
		if _, err := n.b.readNetwork(a.Name); err != nil {
			return err
		}
		if a.IPv4 != "" {
			if ip, err := netip.ParseAddr(a.IPv4); err != nil || !ip.Is4() {
				return fmt.Errorf("network %q: ipv4_address %q is not an IPv4 address", a.Name, a.IPv4)
			}
		}
	}
	return nil
}

func (n bridgeNetworker) attach(ctx context.Context, r *record) (attachment, error) {
	switch {
	case r.NetworkMode == "host":
		return attachment{Network: runtime.Network{Mode: runtime.NetworkHost}}, nil
	case strings.HasPrefix(r.NetworkMode, "container:"):
		return n.joinContainer(r)
	case !bridged(r):
		return attachment{Network: runtime.Network{Mode: runtime.NetworkNew}}, nil
	}
	spec := network.AttachSpec{Project: r.Project, Container: r.Name, Hostname: r.Spec.Hostname, ExtraHosts: r.ExtraHosts}
	for _, a := range r.Networks {
		na := network.NetworkAttachment{Name: a.Name, Aliases: a.Aliases}
		if a.IPv4 != "" {
			na.IPv4, _ = netip.ParseAddr(a.IPv4)
		}
		spec.Networks = append(spec.Networks, na)
	}
	att, err := n.m.Attach(ctx, spec)
	if errors.Is(err, network.ErrNotFound) {
		// The run directory lost the network's state (a reboot): make the
		// networks again from their records.
		if err := n.ensure(ctx, r); err != nil {
			return attachment{}, err
		}
		att, err = n.m.Attach(ctx, spec)
	}
	if err != nil {
		return attachment{}, err
	}
	return attachment{
		Network: runtime.Network{Mode: runtime.NetworkJoin, Path: att.NetnsPath},
		Hosts:   att.HostsFile,
		IP:      att.IPs[r.Networks[0].Name],
	}, nil
}

// ensure makes r's networks exist again from the engine's records.
func (n bridgeNetworker) ensure(ctx context.Context, r *record) error {
	for _, a := range r.Networks {
		rec, err := n.b.readNetwork(a.Name)
		if err != nil {
			return err
		}
		subnet, err := firstSubnet(rec.Subnets)
		if err != nil {
			return err
		}
		if _, err := n.m.EnsureNetwork(ctx, network.NetSpec{Name: rec.Name, Project: rec.Project, Internal: rec.Internal, Subnet: subnet}); err != nil {
			return err
		}
	}
	return nil
}

// joinContainer is network_mode container:<x> (and service:<x>, which the
// caller rewrote): x's namespace, and x's hosts file when x is on compose
// networks, as Docker shares them.
func (n bridgeNetworker) joinContainer(r *record) (attachment, error) {
	ref := strings.TrimPrefix(r.NetworkMode, "container:")
	other, err := n.b.load(ref)
	if err != nil {
		return attachment{}, fmt.Errorf("network_mode %s: %w", r.NetworkMode, err)
	}
	st, started, err := n.b.status(other)
	if err != nil || !started || st.Status != runtime.StatusRunning {
		return attachment{}, fmt.Errorf("network_mode %s: container is not running: %w", r.NetworkMode, engine.ErrConflict)
	}
	if bridged(other) {
		path := n.m.NetnsPath(other.Project, other.Name)
		if _, err := os.Stat(path); err == nil {
			return attachment{Network: runtime.Network{Mode: runtime.NetworkJoin, Path: path}, Hosts: n.m.HostsFile(other.Project, other.Name)}, nil
		}
	}
	return attachment{Network: runtime.Network{Mode: runtime.NetworkJoin, Path: fmt.Sprintf("/proc/%d/ns/net", st.Pid)}}, nil
}

func (n bridgeNetworker) detach(ctx context.Context, r *record) error {
	if !bridged(r) {
		return nil
	}
	return n.m.Detach(context.WithoutCancel(ctx), r.Project, r.Name)
}

func (n bridgeNetworker) release(ctx context.Context, r *record) error {
	if !bridged(r) {
		return nil
	}
	return n.m.Release(context.WithoutCancel(ctx), r.Project, r.Name)
}

func (n bridgeNetworker) unsupported(networks int) []string { return nil }
