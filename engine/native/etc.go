package native

import (
	"path/filepath"

	"github.com/hoist-dev/hoist/engine/native/etcfiles"
)

// writeEtc writes the container's /etc/hosts, /etc/hostname and
// /etc/resolv.conf into its etc dir and returns their paths.
func (b *Backend) writeEtc(r *record) (hosts, hostname, resolv string, err error) {
	return etcfiles.Write(filepath.Join(b.layerDir(r.ID), "etc"), etcOptions(r, b.logf))
}

func etcOptions(r *record, logf func(string, ...any)) etcfiles.Options {
	o := etcfiles.Options{Name: r.Name, Hostname: r.Spec.Hostname, HostNetwork: r.NetworkMode == "host", DNS: r.DNS, Logf: logf}
	// A container on compose networks gets the network manager's hosts
	// file at attach (with extra_hosts); the others get theirs here.
	if !bridged(r) {
		o.ExtraHosts = r.ExtraHosts
	}
	return o
}
