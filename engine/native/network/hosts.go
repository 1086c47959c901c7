package network

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Name resolution: a managed /etc/hosts per container, not a DNS server.
//
// Docker answers names with a DNS server embedded in dockerd
// (127.0.0.11), which needs a long-lived process per host or project. The
// native engine has none yet: "up -d" returns, and containers outlive
// the CLI. So each container gets a hosts file under the project's state
// directory, bind-mounted on /etc/hosts, and rewritten in place (the
// same inode, so the bind mount sees it) on every Attach, Detach and
// Release of any container of the project. Recreated containers and new
// replicas therefore resolve at once, with no process to keep alive or
// to crash, and every libc (glibc, musl) reads it.
//
// Limits, compared with Docker's DNS:
//   - A scaled service has one line per replica, all with the service
//     name; glibc's gethostbyname takes the first, getaddrinfo returns
//     all only with "multi on" (Debian's /etc/host.conf default); musl
//     returns all. There is no round robin.
//   - Only names of the project's containers that share a network with
//     this one are there: another project's names never resolve, and
//     neither do names on networks the container is not on.
//   - Containers that set up their own /etc/hosts (hostNetwork-like
//     tricks) see it overwritten.
//
// When the per-project supervisor arrives, an embedded DNS server
// (github.com/miekg/dns) can answer the same records; the hosts files
// would then keep only localhost, the container's own names and
// extra_hosts, as Docker's do.

const hostsHeader = `# Managed by hoist: rewritten whenever a container of the project is
# attached or detached. Edits are lost.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// renderHosts is self's hosts file given all attached containers of the
// project: extra_hosts first (the user's word wins, glibc taking the first
// match), then self's own addresses, then the other containers on each of
// self's networks, sorted by container name.
func renderHosts(self ctrState, all []ctrState) []byte {
	var b bytes.Buffer
	b.WriteString(hostsHeader)
	line := func(ip netip.Addr, names ...string) {
		var ns []string
		for _, n := range names {
			if n != "" && !slices.Contains(ns, n) {
				ns = append(ns, n)
			}
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, strings.Join(ns, " "))
	}
	for _, e := range self.ExtraHosts {
		line(e.IP, e.Name)
	}
	for i, l := range self.Links {
		names := []string{self.Container}
		if i == 0 {
			names = append([]string{self.Hostname}, names...)
		}
		line(l.IP, append(names, l.Aliases...)...)
	}
	others := slices.Clone(all)
	slices.SortFunc(others, func(a, b ctrState) int { return strings.Compare(a.Container, b.Container) })
	for _, sl := range self.Links {
		for _, o := range others {
			if o.Container == self.Container {
				continue
			}
			for _, ol := range o.Links {
				if ol.Network == sl.Network {
					line(ol.IP, append([]string{o.Container}, ol.Aliases...)...)
				}
			}
		}
	}
	return b.Bytes()
}

// writeHosts rewrites the hosts file of every attached container of
// project.
func (m *Manager) writeHosts(project string) error {
	ctrs, err := readAll[ctrState](filepath.Join(m.projectDir(project), "containers"))
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range ctrs {
		errs = append(errs, writeInPlace(m.HostsFile(project, c.Container), renderHosts(c, ctrs)))
	}
	return errors.Join(errs...)
}

// writeInPlace overwrites path's content keeping its inode, so a bind
// mount of it shows the new content; readers never see it empty.
func writeInPlace(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write hosts file %s: %w", path, err)
	}
	return nil
}

// parseExtraHosts resolves compose extra_hosts entries, "name:ip" or
// "name=ip" (compose-go writes either), "host-gateway" meaning gateway.
func parseExtraHosts(list []string, gateway netip.Addr) ([]hostEntry, error) {
	var out []hostEntry
	for _, s := range list {
		sep := strings.IndexByte(s, '=')
		if sep < 0 {
			sep = strings.IndexByte(s, ':')
		}
		if sep <= 0 {
			return nil, fmt.Errorf("extra_hosts %q: want name:ip", s)
		}
		name, ip := strings.TrimSpace(s[:sep]), strings.TrimSpace(s[sep+1:])
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		var a netip.Addr
		if ip == "host-gateway" {
			a = gateway
		} else {
			var err error
			if a, err = netip.ParseAddr(ip); err != nil {
				return nil, fmt.Errorf("extra_hosts %q: %w", s, err)
			}
		}
		out = append(out, hostEntry{Name: name, IP: a})
	}
	return out, nil
}
