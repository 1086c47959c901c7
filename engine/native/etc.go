package native

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hoist-dev/hoist/engine/native/network"
	"github.com/hoist-dev/hoist/internal/atomicfile"
)

// writeEtc writes the container's /etc/hosts, /etc/hostname and
// /etc/resolv.conf into its etc dir and returns their paths. They are
// written anew at each start, so they are not synced to disk.
func (b *Backend) writeEtc(r *record) (hosts, hostname, resolv string, err error) {
	dir := filepath.Join(b.layerDir(r.ID), "etc")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", err
	}
	hosts, hostname, resolv = filepath.Join(dir, "hosts"), filepath.Join(dir, "hostname"), filepath.Join(dir, "resolv.conf")
	var hostsData []byte
	if r.NetworkMode == "host" {
		hostsData, _ = os.ReadFile("/etc/hosts")
	} else {
		hostsData = containerHosts(r.Spec.Hostname)
	}
	// A container on compose networks gets the network manager's hosts
	// file at attach (with extra_hosts); the others get theirs here.
	if !bridged(r) {
		hostsData = b.appendExtraHosts(r, hostsData)
	}
	if err := atomicfile.Replace(hosts, hostsData, 0o644); err != nil {
		return "", "", "", err
	}
	if err := atomicfile.Replace(hostname, []byte(r.Spec.Hostname+"\n"), 0o644); err != nil {
		return "", "", "", err
	}
	var conf []byte
	if r.NetworkMode == "host" {
		conf, _ = os.ReadFile("/etc/resolv.conf")
	} else {
		host, err := network.HostResolvConf()
		if err != nil {
			b.logf("container %s: %v", r.Name, err)
		}
		var dropped []string
		conf, dropped = network.ResolvConf(host, r.DNS)
		if len(dropped) > 0 {
			msg := "left out"
			if !bytes.Contains(conf, []byte("nameserver ")) {
				msg = "it gets no nameserver, so names outside the project do not resolve"
			}
			b.logf("container %s: loopback nameservers %s cannot be reached from the container's network namespace: %s", r.Name, strings.Join(dropped, ", "), msg)
		}
	}
	if err := atomicfile.Replace(resolv, conf, 0o644); err != nil {
		return "", "", "", err
	}
	return hosts, hostname, resolv, nil
}

// appendExtraHosts adds r's extra_hosts to a hosts file of a container
// that is not on a compose network; "host-gateway" has no meaning there
// and is left out, with a warning.
func (b *Backend) appendExtraHosts(r *record, data []byte) []byte {
	var buf bytes.Buffer
	buf.Write(data)
	for _, e := range r.ExtraHosts {
		name, ip, ok := strings.Cut(e, "=")
		if !ok {
			name, ip, _ = strings.Cut(e, ":")
		}
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		if _, err := netip.ParseAddr(ip); err != nil {
			b.logf("container %s: extra_hosts %q: left out (%s needs a compose network)", r.Name, e, ip)
			continue
		}
		fmt.Fprintf(&buf, "%s\t%s\n", ip, name)
	}
	return buf.Bytes()
}

func containerHosts(hostname string) []byte {
	var buf bytes.Buffer
	buf.WriteString("127.0.0.1\tlocalhost\n")
	buf.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	buf.WriteString("fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	fmt.Fprintf(&buf, "127.0.1.1\t%s\n", hostname)
	return buf.Bytes()
}

// hostResolvConf returns the resolv.conf for a container: the host's as
// it is for a host-network container; otherwise without loopback
// nameservers, which are unreachable from another namespace (with
// systemd-resolved's upstream file tried first, as Docker does). dropped
// reports that every nameserver was loopback.
func hostResolvConf(hostNet bool) (conf []byte, dropped bool) {
	main, _ := os.ReadFile("/etc/resolv.conf")
	if hostNet {
		return main, false
	}
	out, had, kept := filterResolvConf(main)
	if had && kept == 0 {
		if up, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			if o, _, k := filterResolvConf(up); k > 0 {
				return o, false
			}
		}
		return out, true
	}
	return out, false
}

// filterResolvConf drops loopback nameservers; had reports any nameserver
// line, kept how many remain.
func filterResolvConf(data []byte) (out []byte, had bool, kept int) {
	var buf bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			had = true
			if a, err := netip.ParseAddr(strings.Split(f[1], "%")[0]); err == nil && a.IsLoopback() {
				continue
			}
			kept++
		}
		buf.WriteString(line + "\n")
	}
	return buf.Bytes(), had, kept
}
