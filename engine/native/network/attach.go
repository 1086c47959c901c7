package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hoist-dev/hoist/netplan"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// AttachSpec connects one container to its networks.
type AttachSpec struct {
	Project   string
	Container string // the container name, unique on the host
	// Hostname is the container's host name, resolved to its first address.
	Hostname string
	// Networks in interface order: the first becomes eth0, and the first
	// non-internal one carries the default route.
	Networks []NetworkAttachment
	// ExtraHosts are compose extra_hosts entries, "name:ip" or "name=ip";
	// the ip "host-gateway" is the first network's gateway, the host's
	// address on that bridge.
	ExtraHosts []string
}

// NetworkAttachment is one network of a container.
type NetworkAttachment struct {
	Name string // the network's engine-level name, as in NetSpec
	// Aliases are the names this container answers to on the network
	// besides its container name: service name, compose aliases.
	// A scaled service gives all its replicas the service name.
	Aliases []string
	// IPv4 is a static address (compose ipv4_address); zero picks one,
	// keeping the address the container had before.
	IPv4 netip.Addr
}

// Attachment is what the container is started with: runtime.Network{Mode:
// runtime.NetworkJoin, Path: NetnsPath}, and HostsFile bind-mounted on
// /etc/hosts.
type Attachment struct {
	NetnsPath string
	HostsFile string
	// IPs is the container's address on each network, by network name.
	IPs map[string]netip.Addr
	// Gateway is the default route's gateway; zero when every network is
	// internal.
	Gateway netip.Addr
}

// Attach creates the container's network namespace, with lo up, one veth
// per network (eth0, eth1, ...) holding its address, and the default
// route; it reserves the addresses and rewrites the hosts files of the
// project's containers. An earlier attachment of the same container is
// replaced, so the engine may call Attach before every start. It is
// meant to run before the container starts; the container's namespace
// is then NetnsPath.
func (m *Manager) Attach(ctx context.Context, spec AttachSpec) (Attachment, error) {
	if err := ctx.Err(); err != nil {
		return Attachment{}, err
	}
	if err := checkName("project", spec.Project); err != nil {
		return Attachment{}, err
	}
	if err := checkName("container", spec.Container); err != nil {
		return Attachment{}, err
	}
	if len(spec.Networks) == 0 {
		return Attachment{}, fmt.Errorf("attach %s: no networks", spec.Container)
	}
	seen := map[string]bool{}
	for _, na := range spec.Networks {
		if err := checkName("network", na.Name); err != nil {
			return Attachment{}, err
		}
		if seen[na.Name] {
			return Attachment{}, fmt.Errorf("attach %s: network %q listed twice", spec.Container, na.Name)
		}
		seen[na.Name] = true
	}
	lk, err := m.lockProject(spec.Project)
	if err != nil {
		return Attachment{}, err
	}
	defer lk.unlock()

	var old ctrState
	err = readJSON(m.ctrPath(spec.Project, spec.Container), &old)
	if err == nil {
		if err := m.unplug(old); err != nil {
			return Attachment{}, fmt.Errorf("attach %s: replace earlier attachment: %w", spec.Container, err)
		}
		if err := os.Remove(m.ctrPath(spec.Project, spec.Container)); err != nil {
			return Attachment{}, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Attachment{}, err
	}

	nets := make([]netState, len(spec.Networks))
	for i, na := range spec.Networks {
		if err := readJSON(m.netPath(spec.Project, na.Name), &nets[i]); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("network %q of project %q: %w", na.Name, spec.Project, ErrNotFound)
			}
			return Attachment{}, fmt.Errorf("attach %s: %w", spec.Container, err)
		}
		if err := m.reserve(&nets[i], spec.Container, na.IPv4); err != nil {
			return Attachment{}, fmt.Errorf("attach %s: %w", spec.Container, err)
		}
		if err := writeJSON(m.netPath(spec.Project, na.Name), nets[i]); err != nil {
			return Attachment{}, err
		}
	}
	extra, err := parseExtraHosts(spec.ExtraHosts, nets[0].Gateway)
	if err != nil {
		return Attachment{}, fmt.Errorf("attach %s: %w", spec.Container, err)
	}
	st := ctrState{Container: spec.Container, Project: spec.Project, Hostname: spec.Hostname,
		Netns: m.NetnsPath(spec.Project, spec.Container), ExtraHosts: extra}
	att := Attachment{NetnsPath: st.Netns, HostsFile: m.HostsFile(spec.Project, spec.Container), IPs: map[string]netip.Addr{}}
	for i, na := range spec.Networks {
		n := nets[i]
		st.Links = append(st.Links, linkState{Network: n.Name, HostVeth: vethName(spec.Project, spec.Container, n.Name),
			IfName: "eth" + strconv.Itoa(i), IP: n.IPs[spec.Container], Aliases: na.Aliases})
		att.IPs[n.Name] = n.IPs[spec.Container]
		if !n.Internal && !att.Gateway.IsValid() {
			att.Gateway = n.Gateway
		}
	}
	// The record first: whatever happens next, Detach and Teardown know
	// what to remove.
	if err := writeJSON(m.ctrPath(spec.Project, spec.Container), st); err != nil {
		return Attachment{}, err
	}
	if err := m.plug(st, nets, att.Gateway); err != nil {
		err = fmt.Errorf("attach %s: %w", spec.Container, err)
		if uerr := m.unplug(st); uerr != nil {
			return Attachment{}, errors.Join(err, uerr)
		}
		os.Remove(m.ctrPath(spec.Project, spec.Container))
		return Attachment{}, err
	}
	if err := m.writeHosts(spec.Project); err != nil {
		return Attachment{}, fmt.Errorf("attach %s: %w", spec.Container, err)
	}
	return att, nil
}

// reserve gives container an address on n, in n.IPs. A static address
// held by another attached container is an ErrConflict; one only reserved
// by a detached container is taken from it.
func (m *Manager) reserve(n *netState, container string, static netip.Addr) error {
	if n.IPs == nil {
		n.IPs = map[string]netip.Addr{}
	}
	if static.IsValid() {
		last := netip.AddrFrom4(broadcast4(n.Subnet))
		if !static.Is4() || !n.Subnet.Contains(static) || static == n.Gateway || static == n.Subnet.Masked().Addr() || static == last {
			return fmt.Errorf("address %s is not usable in %s of network %q: %w", static, n.Subnet, n.Name, netplan.ErrAddress)
		}
		for other, a := range n.IPs {
			if a != static || other == container {
				continue
			}
			if _, err := os.Stat(m.ctrPath(n.Project, other)); err == nil {
				return fmt.Errorf("address %s of network %q is used by %s: %w", static, n.Name, other, ErrConflict)
			}
			delete(n.IPs, other)
		}
		n.IPs[container] = static
		return nil
	}
	names := sortedKeys(n.IPs)
	if _, ok := n.IPs[container]; !ok {
		names = append(names, container)
	}
	got, err := netplan.AssignIPs(n.Subnet, names, n.IPs)
	if err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	n.IPs = got
	return nil
}

func broadcast4(p netip.Prefix) [4]byte {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return b
}

// plug creates st's namespace and veths.
func (m *Manager) plug(st ctrState, nets []netState, gw netip.Addr) error {
	if err := os.MkdirAll(m.netnsDir(st.Project), 0o700); err != nil {
		return err
	}
	if err := createNetns(st.Netns); err != nil {
		return err
	}
	ns, err := netns.GetFromPath(st.Netns)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", st.Netns, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", st.Netns, err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	for i, l := range st.Links {
		if err := ensureBridge(nets[i]); err != nil {
			return err
		}
		if err := plugLink(st.Project, st.Container, l, nets[i], ns, h); err != nil {
			return err
		}
	}
	if gw.IsValid() {
		if err := h.RouteAdd(&netlink.Route{Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// unplug removes st's veths and namespace file; what is gone already is
// fine. Address reservations stay.
func (m *Manager) unplug(st ctrState) error {
	var errs []error
	for _, l := range st.Links {
		errs = append(errs, deleteLink(l.HostVeth))
	}
	errs = append(errs, removeNetns(st.Netns))
	return errors.Join(errs...)
}

// Detach removes the container's veths and namespace file and its hosts
// file, and rewrites the hosts files of the others. Its addresses stay
// reserved for when it comes back (a restart, a recreate); Release gives
// them up. Detaching a container that is not attached does nothing.
func (m *Manager) Detach(ctx context.Context, project, container string) error {
	return m.detach(project, container, false)
}

// Release is Detach that also gives up the container's address
// reservations, for a container that is gone for good.
func (m *Manager) Release(ctx context.Context, project, container string) error {
	return m.detach(project, container, true)
}

func (m *Manager) detach(project, container string, release bool) error {
	if err := checkName("project", project); err != nil {
		return err
	}
	if err := checkName("container", container); err != nil {
		return err
	}
	st, found, err := m.forget(project, container, release)
	if err != nil || !found {
		return err
	}
	// Deleting veths waits for the kernel (an RCU grace period per link):
	// done outside the project lock, a project's containers detach in
	// parallel instead of one after another. The links keep their
	// hoist:<project> alias, so Teardown still finds them should this
	// process die now.
	if err := m.unplug(st); err != nil {
		return fmt.Errorf("detach %s: %w", container, err)
	}
	return nil
}

// forget drops the container from the project's state under the project
// lock: its record, its hosts file, (with release) its addresses, and its
// names from the other containers' hosts files.
func (m *Manager) forget(project, container string, release bool) (ctrState, bool, error) {
	lk, err := m.lockProject(project)
	if err != nil {
		return ctrState{}, false, err
	}
	defer lk.unlock()
	var st ctrState
	found := false
	err = readJSON(m.ctrPath(project, container), &st)
	switch {
	case err == nil:
		found = true
		if err := os.Remove(m.ctrPath(project, container)); err != nil {
			return st, false, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return st, false, err
	}
	if err := os.Remove(m.HostsFile(project, container)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, found, err
	}
	changed := found
	if release {
		nets, err := readAll[netState](filepath.Join(m.projectDir(project), "networks"))
		if err != nil {
			return st, found, err
		}
		for _, n := range nets {
			if _, ok := n.IPs[container]; ok {
				delete(n.IPs, container)
				changed = true
				if err := writeJSON(m.netPath(project, n.Name), n); err != nil {
					return st, found, err
				}
			}
		}
	}
	if !changed {
		// Already detached and nothing released: the other containers'
		// hosts files are current (a removal after a stop lands here).
		return st, found, nil
	}
	return st, found, m.writeHosts(project)
}
