package netplan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Probe reports whether b's host port can be taken on this host: nil when
// free, an error wrapping ErrPortInUse when something holds it, any other
// error when it could not be checked. HostProbe is the real one; tests pass
// fakes.
type Probe func(b Binding) error

// CheckOptions tunes Resolve.
type CheckOptions struct {
	// Probe asks the host about each fixed host port; nil skips the host
	// and checks the bindings only against each other.
	Probe Probe
	// Held are ports the project's own running containers already publish.
	// They are not probed (they would look busy), because recreating those
	// containers frees them for the same project.
	Held []Binding
}

// Check reports every port conflict among bindings and with the host, one
// per line, in one error wrapping ErrPortConflict. Random ports (HostPort 0)
// are never probed. It is Resolve without held ports, keeping only the error.
func Check(bindings []Binding, probe Probe) error {
	_, err := Resolve(bindings, CheckOptions{Probe: probe})
	return err
}

// Resolve checks bindings like Check and also pins every host port range to
// one free port, lowest first, so an engine that proxies ports itself knows
// exactly what to bind. The result is sorted like Ports; fixed and random
// bindings come back unchanged.
func Resolve(bindings []Binding, opts CheckOptions) ([]Binding, error) {
	bs := slices.Clone(bindings)
	for i := range bs {
		if !bs[i].HostIP.IsValid() {
			bs[i].HostIP = netip.IPv4Unspecified()
		}
	}
	sortBindings(bs)

	var errs []error
	seen := map[string]bool{}
	report := func(e *conflictError) {
		if !seen[e.msg] {
			seen[e.msg] = true
			errs = append(errs, e)
		}
	}

	var fixed []Binding
	for _, b := range bs {
		if b.HostPort != 0 && !b.isRange() {
			fixed = append(fixed, b)
		}
	}

	// Bindings against each other: every overlapping pair is one line.
	for i, a := range fixed {
		for _, b := range fixed[i+1:] {
			if !samePort(a, b.HostIP, b.HostPort, b.Protocol) {
				continue
			}
			where := addrString(a.HostIP)
			if a.HostIP != b.HostIP {
				where += " and " + addrString(b.HostIP)
			}
			msg := fmt.Sprintf("port %d/%s on %s is published by both %q and %q", a.HostPort, a.Protocol, where, a.Service, b.Service)
			if a.Service == b.Service {
				msg = fmt.Sprintf("port %d/%s on %s is published twice by %q; remove one of its \"ports\" entries", a.HostPort, a.Protocol, where, a.Service)
			}
			report(&conflictError{msg: msg})
		}
	}

	// Bindings against the host, each address/port/protocol asked once.
	probed := map[Binding]bool{}
	for _, b := range fixed {
		key := Binding{HostIP: b.HostIP, HostPort: b.HostPort, Protocol: b.Protocol}
		if opts.Probe == nil || probed[key] || held(opts.Held, b.HostIP, b.HostPort, b.Protocol) {
			continue
		}
		probed[key] = true
		if err := opts.Probe(b); err != nil {
			report(hostError(b, b.HostPort, err))
		}
	}

	// Ranges last, so they pick around every fixed port and around each other.
	var taken []Binding
	for i, b := range bs {
		if !b.isRange() {
			continue
		}
		picked := uint16(0)
		for p := int(b.HostPort); p <= int(b.HostPortEnd) && picked == 0; p++ {
			port := uint16(p)
			if slices.ContainsFunc(fixed, func(f Binding) bool { return samePort(f, b.HostIP, port, b.Protocol) }) ||
				slices.ContainsFunc(taken, func(f Binding) bool { return samePort(f, b.HostIP, port, b.Protocol) }) {
				continue
			}
			if opts.Probe != nil && !held(opts.Held, b.HostIP, port, b.Protocol) {
				c := b
				c.HostPort, c.HostPortEnd = port, 0
				if opts.Probe(c) != nil {
					continue
				}
			}
			picked = port
		}
		if picked == 0 {
			report(&conflictError{msg: fmt.Sprintf("no free port in %d-%d/%s on %s for service %q; widen the range or free a port in it",
				b.HostPort, b.HostPortEnd, b.Protocol, addrString(b.HostIP), b.Service)})
			continue
		}
		bs[i].HostPort, bs[i].HostPortEnd = picked, 0
		taken = append(taken, bs[i])
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sortBindings(bs)
	return bs, nil
}

func hostError(b Binding, port uint16, err error) *conflictError {
	if errors.Is(err, ErrPortInUse) {
		return &conflictError{cause: err, msg: fmt.Sprintf("port %d/%s on %s (service %q) is already in use on this host; stop what holds it or change \"ports\" for %q",
			port, b.Protocol, addrString(b.HostIP), b.Service, b.Service)}
	}
	return &conflictError{cause: err, msg: fmt.Sprintf("port %d/%s on %s (service %q) cannot be checked on this host: %v; check \"host_ip\" and \"ports\" for %q",
		port, b.Protocol, addrString(b.HostIP), b.Service, err, b.Service)}
}

// samePort reports whether a and (ip, port, proto) would fight over one
// socket: same protocol and port, and addresses that overlap because they
// are equal or one of them means every address.
func samePort(a Binding, ip netip.Addr, port uint16, proto string) bool {
	return a.Protocol == proto && a.HostPort == port &&
		(a.HostIP == ip || a.HostIP.IsUnspecified() || ip.IsUnspecified())
}

func held(hs []Binding, ip netip.Addr, port uint16, proto string) bool {
	return slices.ContainsFunc(hs, func(h Binding) bool {
		if !h.HostIP.IsValid() {
			h.HostIP = netip.IPv4Unspecified()
		}
		return h.HostPort != 0 && samePort(h, ip, port, proto)
	})
}

// conflictError is one line of a Check error. It is an ErrPortConflict and
// keeps the probe's error, if any, for errors.Is/As.
type conflictError struct {
	msg   string
	cause error
}

func (e *conflictError) Error() string        { return e.msg }
func (e *conflictError) Unwrap() error        { return e.cause }
func (e *conflictError) Is(target error) bool { return target == ErrPortConflict }
