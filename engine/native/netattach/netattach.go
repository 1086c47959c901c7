// Package netattach connects the native engine's containers to their
// networks and keeps the networks' records (engine/native/store) in step
// with the bridges (engine/native/network): a container on compose
// networks gets a namespace of its own with a veth on each network's
// bridge and the network manager's hosts file, network_mode none a
// namespace with loopback only, host the host's, container:<x> x's.
// Networks lost with the run dir (a reboot) are made again from their
// records when a container attaches.
package netattach

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/launch"
	"github.com/hoist-dev/hoist/engine/native/network"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// Networks attaches the containers of the store at Layout through
// Manager. It is the engine's launch.Network.
type Networks struct {
	Layout  store.Layout
	Manager *network.Manager
}

var _ launch.Network = Networks{}

// Check validates r's network settings at create.
func (n Networks) Check(r *store.Record) error {
	for _, a := range r.Networks {
		if _, err := n.Layout.Network(a.Name); err != nil {
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

// Attach prepares r's network before it starts.
func (n Networks) Attach(ctx context.Context, r *store.Record) (launch.Attachment, error) {
	switch {
	case r.NetworkMode == "host":
		return launch.Attachment{Network: runtime.Network{Mode: runtime.NetworkHost}}, nil
	case strings.HasPrefix(r.NetworkMode, "container:"):
		return n.joinContainer(r)
	case !r.Bridged():
		return launch.Attachment{Network: runtime.Network{Mode: runtime.NetworkNew}}, nil
	}
	spec := network.AttachSpec{Project: r.Project, Container: r.Name, Hostname: r.Spec.Hostname, ExtraHosts: r.ExtraHosts}
	for _, a := range r.Networks {
		na := network.NetworkAttachment{Name: a.Name, Aliases: a.Aliases}
		if a.IPv4 != "" {
			na.IPv4, _ = netip.ParseAddr(a.IPv4)
		}
		spec.Networks = append(spec.Networks, na)
	}
	att, err := n.Manager.Attach(ctx, spec)
	if errors.Is(err, network.ErrNotFound) {
		// The run directory lost the network's state (a reboot): make the
		// networks again from their records.
		if err := n.ensure(ctx, r); err != nil {
			return launch.Attachment{}, err
		}
		att, err = n.Manager.Attach(ctx, spec)
	}
	if err != nil {
		return launch.Attachment{}, err
	}
	out := launch.Attachment{
		Network: runtime.Network{Mode: runtime.NetworkJoin, Path: att.NetnsPath},
		Hosts:   att.HostsFile,
	}
	if ip := att.IPs[r.Networks[0].Name]; ip.IsValid() {
		out.Addr = ip.String()
	}
	if att.Gateway.IsValid() {
		out.Gateway = att.Gateway.String()
	}
	return out, nil
}

// ensure makes r's networks exist again from their records.
func (n Networks) ensure(ctx context.Context, r *store.Record) error {
	for _, a := range r.Networks {
		rec, err := n.Layout.Network(a.Name)
		if err != nil {
			return err
		}
		if err := n.make(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// make makes the recorded network exist on the host.
func (n Networks) make(ctx context.Context, rec store.Network) error {
	subnet, err := FirstSubnet(rec.Subnets)
	if err != nil {
		return err
	}
	_, err = n.Manager.EnsureNetwork(ctx, network.NetSpec{Name: rec.Name, Project: rec.Project, Internal: rec.Internal, Subnet: subnet})
	return err
}

// joinContainer is network_mode container:<x> (and service:<x>, which the
// caller rewrote): x's namespace, and x's hosts file when x is on compose
// networks, as Docker shares them.
func (n Networks) joinContainer(r *store.Record) (launch.Attachment, error) {
	ref := strings.TrimPrefix(r.NetworkMode, "container:")
	other, err := n.Layout.LoadRef(ref)
	if err != nil {
		return launch.Attachment{}, fmt.Errorf("network_mode %s: %w", r.NetworkMode, err)
	}
	st, running := n.Layout.Running(other)
	if !running {
		return launch.Attachment{}, fmt.Errorf("network_mode %s: container is not running: %w", r.NetworkMode, engine.ErrConflict)
	}
	if other.Bridged() {
		path := n.Manager.NetnsPath(other.Project, other.Name)
		if _, err := os.Stat(path); err == nil {
			return launch.Attachment{Network: runtime.Network{Mode: runtime.NetworkJoin, Path: path}, Hosts: n.Manager.HostsFile(other.Project, other.Name)}, nil
		}
	}
	return launch.Attachment{Network: runtime.Network{Mode: runtime.NetworkJoin, Path: fmt.Sprintf("/proc/%d/ns/net", st.Pid)}}, nil
}

// Detach undoes Attach after the container exited; its addresses stay
// reserved for its next start. It is idempotent.
func (n Networks) Detach(ctx context.Context, r *store.Record) error {
	if !r.Bridged() {
		return nil
	}
	return n.Manager.Detach(context.WithoutCancel(ctx), r.Project, r.Name)
}

// Release is Detach for a container removed for good: its addresses are
// given up too.
func (n Networks) Release(ctx context.Context, r *store.Record) error {
	if !r.Bridged() {
		return nil
	}
	return n.Manager.Release(context.WithoutCancel(ctx), r.Project, r.Name)
}

// Create records the network and makes it exist on the host: a bridge
// with a subnet (the first IPv4 one of spec.Subnets, else a free one),
// NAT out unless internal, the project's forward rules. On error nothing
// is left of it; Undone tells an error after the record was made.
func (n Networks) Create(ctx context.Context, spec engine.NetworkSpec) error {
	if err := store.CheckName("network", spec.Name); err != nil {
		return err
	}
	if spec.Project == "" || store.CheckName("project", spec.Project) != nil {
		return fmt.Errorf("create network %q: invalid project name %q", spec.Name, spec.Project)
	}
	if spec.Driver != "" && spec.Driver != "bridge" {
		return fmt.Errorf("create network %q: driver %q: %w by the native engine (bridge only)", spec.Name, spec.Driver, engine.ErrNotImplemented)
	}
	if _, err := FirstSubnet(spec.Subnets); err != nil {
		return fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	rec := store.Network{ID: store.NewID(), Name: spec.Name, Project: spec.Project, Key: spec.Key, Driver: spec.Driver,
		Internal: spec.Internal, Subnets: spec.Subnets, Options: spec.Options, Created: time.Now().UTC()}
	rec.Labels = map[string]string{}
	if spec.Project != "" {
		rec.Labels[engine.LabelProject] = spec.Project
	}
	if spec.Key != "" {
		rec.Labels[engine.LabelNetwork] = spec.Key
	}
	for k, v := range spec.Labels {
		rec.Labels[k] = v
	}
	if err := n.Layout.CreateNetwork(rec); err != nil {
		return fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	if err := n.make(ctx, rec); err != nil {
		err = fmt.Errorf("create network %q: %w", spec.Name, err)
		if rerr := n.Manager.RemoveNetwork(context.WithoutCancel(ctx), spec.Project, spec.Name); rerr != nil {
			return errors.Join(err, rerr)
		}
		_ = n.Layout.RemoveNetwork(spec.Name)
		return undone{err}
	}
	return nil
}

// undone is Create's error once it made and removed the network's record.
type undone struct{ error }

func (e undone) Unwrap() error { return e.error }

// Undone reports whether err is Create's after it had made the network's
// record and removed it again: the project may be left with nothing.
func Undone(err error) bool {
	var u undone
	return errors.As(err, &u)
}

// Remove removes the network's bridge, rules and record and returns its
// project; a network a container is attached to is an
// engine.ErrConflict.
func (n Networks) Remove(ctx context.Context, name string) (project string, err error) {
	if store.CheckName("network", name) != nil {
		return "", fmt.Errorf("network %q: %w", name, engine.ErrNotFound)
	}
	rec, err := n.Layout.Network(name)
	if err != nil {
		return "", fmt.Errorf("remove network %q: %w", name, err)
	}
	recs, err := n.Layout.All()
	if err != nil {
		return "", err
	}
	for _, r := range recs {
		for _, a := range r.Networks {
			if a.Name == name {
				return "", fmt.Errorf("remove network %q: container %s is attached: %w", name, r.Name, engine.ErrConflict)
			}
		}
	}
	if rec.Project != "" {
		if err := n.Manager.RemoveNetwork(ctx, rec.Project, name); err != nil {
			if errors.Is(err, network.ErrInUse) {
				err = fmt.Errorf("%w: %w", err, engine.ErrConflict)
			}
			return "", fmt.Errorf("remove network %q: %w", name, err)
		}
	}
	if err := n.Layout.RemoveNetwork(name); err != nil {
		return "", fmt.Errorf("remove network %q: %w", name, err)
	}
	return rec.Project, nil
}

// FirstSubnet is the first IPv4 subnet of a network spec, or the zero
// Prefix; IPv6 subnets are ignored (the native engine is IPv4 only).
func FirstSubnet(subnets []string) (netip.Prefix, error) {
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("subnet %q: %w", s, err)
		}
		if p.Addr().Is4() {
			return p.Masked(), nil
		}
	}
	return netip.Prefix{}, nil
}
