package etcfiles

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hoist-dev/hoist/internal/atomicfile"
)

// Options are what a container's /etc files are made from.
type Options struct {
	// Name is the container's, for warnings.
	Name     string
	Hostname string
	// HostNetwork copies the host's own hosts file and resolv.conf.
	HostNetwork bool
	// ExtraHosts (compose extra_hosts, "name=ip" or "name:ip") are added
	// to the hosts file. Pass none for a container on a compose network:
	// its hosts file comes from the network manager at attach.
	ExtraHosts []string
	DNS        DNS
	// Logf reports what was left out; nil discards it.
	Logf func(format string, args ...any)
}

// Write writes the container's hosts, hostname and resolv.conf into dir
// and returns their paths. They are written anew at each start, so they
// are not synced to disk (see atomicfile.Replace).
func Write(dir string, o Options) (hosts, hostname, resolv string, err error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", err
	}
	hosts, hostname, resolv = filepath.Join(dir, "hosts"), filepath.Join(dir, "hostname"), filepath.Join(dir, "resolv.conf")
	var hostsData []byte
	if o.HostNetwork {
		hostsData, _ = os.ReadFile("/etc/hosts")
	} else {
		hostsData = containerHosts(o.Hostname)
	}
	hostsData = appendExtraHosts(o, hostsData, logf)
	if err := atomicfile.Replace(hosts, hostsData, 0o644); err != nil {
		return "", "", "", err
	}
	if err := atomicfile.Replace(hostname, []byte(o.Hostname+"\n"), 0o644); err != nil {
		return "", "", "", err
	}
	var conf []byte
	if o.HostNetwork {
		conf, _ = os.ReadFile("/etc/resolv.conf")
	} else {
		host, err := HostResolvConf()
		if err != nil {
			logf("container %s: %v", o.Name, err)
		}
		var dropped []string
		conf, dropped = ResolvConf(host, o.DNS)
		if len(dropped) > 0 {
			msg := "left out"
			if !bytes.Contains(conf, []byte("nameserver ")) {
				msg = "it gets no nameserver, so names outside the project do not resolve"
			}
			logf("container %s: loopback nameservers %s cannot be reached from the container's network namespace: %s", o.Name, strings.Join(dropped, ", "), msg)
		}
	}
	if err := atomicfile.Replace(resolv, conf, 0o644); err != nil {
		return "", "", "", err
	}
	return hosts, hostname, resolv, nil
}

// appendExtraHosts adds the extra_hosts of a container that is not on a
// compose network; "host-gateway" has no meaning there and is left out,
// with a warning.
func appendExtraHosts(o Options, data []byte, logf func(string, ...any)) []byte {
	var buf bytes.Buffer
	buf.Write(data)
	for _, e := range o.ExtraHosts {
		name, ip, ok := strings.Cut(e, "=")
		if !ok {
			name, ip, _ = strings.Cut(e, ":")
		}
		ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
		if ok, _ := parseIP(ip); !ok {
			logf("container %s: extra_hosts %q: left out (%s needs a compose network)", o.Name, e, ip)
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
