package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ensureBridge makes n's bridge exist, hold the gateway address and be up.
func ensureBridge(n netState) error {
	l, err := netlink.LinkByName(n.Bridge)
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf):
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("add bridge %s: %w", n.Bridge, err)
		}
		if l, err = netlink.LinkByName(n.Bridge); err != nil {
			return fmt.Errorf("bridge %s: %w", n.Bridge, err)
		}
		if err := netlink.LinkSetAlias(l, linkAlias(n.Project, "network/"+n.Name)); err != nil {
			return fmt.Errorf("bridge %s: set alias: %w", n.Bridge, err)
		}
	case err != nil:
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	default:
		if l.Type() != "bridge" || l.Attrs().Alias != linkAlias(n.Project, "network/"+n.Name) {
			return fmt.Errorf("link %s exists and is not this network's bridge: %w", n.Bridge, ErrConflict)
		}
	}
	addr := &netlink.Addr{IPNet: ipNet(n.Gateway, n.Subnet.Bits())}
	if err := netlink.AddrReplace(l, addr); err != nil {
		return fmt.Errorf("bridge %s: address %s: %w", n.Bridge, addr, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bridge %s: up: %w", n.Bridge, err)
	}
	return nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}

// deleteLink deletes the link called name, if any. Deleting one end of a
// veth deletes both.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !linkGone(err) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// linkGone reports whether a link operation failed because the link no
// longer exists: another process (or goroutine) deleted it meanwhile, or
// its namespace died and took it along.
func linkGone(err error) bool {
	return errors.As(err, new(netlink.LinkNotFoundError)) || errors.Is(err, unix.ENODEV)
}

// retryDump runs a netlink dump again while the kernel reports it
// interrupted (links or routes changed meanwhile, as other projects' ups
// and downs do): its result may then be incomplete, and a sweep that acts
// on it could miss what it is there to remove.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var out T
	var err error
	for i := range 10 {
		if out, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
		time.Sleep(time.Duration(i+1) * time.Millisecond) // let the churn pass
	}
	return out, err
}

// sweepLinks deletes the links in this namespace tagged with project's
// alias: the veths first, then the bridges.
func sweepLinks(project string, logf func(string, ...any)) error {
	links, err := retryDump(netlink.LinkList)
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	for _, pass := range []string{"veth", "bridge"} {
		for _, l := range links {
			a := l.Attrs()
			if l.Type() != pass || !strings.HasPrefix(a.Alias, aliasPrefix(project)) {
				continue
			}
			logf("network: removing leftover %s %s (%s)", pass, a.Name, a.Alias)
			if err := netlink.LinkDel(l); err != nil && !linkGone(err) {
				errs = append(errs, fmt.Errorf("delete link %s: %w", a.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// plugLink creates l's veth: the host end on bridge, up; the other end
// created directly inside the namespace ns as l.IfName, with its address,
// up.
func plugLink(project, container string, l linkState, n netState, ns netns.NsHandle, h *netlink.Handle) error {
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	if err := deleteLink(l.HostVeth); err != nil { // a leftover of a crash
		return err
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: l.HostVeth, MTU: br.Attrs().MTU},
		PeerName:      l.IfName,
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", l.HostVeth, err)
	}
	host, err := netlink.LinkByName(l.HostVeth)
	if err != nil {
		return fmt.Errorf("veth %s: %w", l.HostVeth, err)
	}
	if err := netlink.LinkSetAlias(host, linkAlias(project, "container/"+container+"/"+l.Network)); err != nil {
		return fmt.Errorf("veth %s: set alias: %w", l.HostVeth, err)
	}
	if err := netlink.LinkSetMaster(host, br); err != nil {
		return fmt.Errorf("veth %s: attach to %s: %w", l.HostVeth, n.Bridge, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("veth %s: up: %w", l.HostVeth, err)
	}
	peer, err := h.LinkByName(l.IfName)
	if err != nil {
		return fmt.Errorf("container %s: %s: %w", container, l.IfName, err)
	}
	if err := h.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(l.IP, n.Subnet.Bits())}); err != nil {
		return fmt.Errorf("container %s: %s: address %s: %w", container, l.IfName, l.IP, err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("container %s: %s: up: %w", container, l.IfName, err)
	}
	return nil
}
