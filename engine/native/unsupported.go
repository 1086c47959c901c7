package native

import (
	"bytes"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine/native/etcfiles"
	"github.com/hoist-dev/hoist/internal/logopts"
)

// Unsupported lists the compose fields set on svc that the native engine
// does not apply yet, so that the caller can warn once, naming them.
// Fields the caller resolves before CreateContainer (build, depends_on,
// scale, profiles, develop) are not listed.
func (b *Backend) Unsupported(svc types.ServiceConfig) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(len(svc.Ports) > 0 && (svc.NetworkMode == "host" || svc.NetworkMode == "none" || strings.HasPrefix(svc.NetworkMode, "container:") || strings.HasPrefix(svc.NetworkMode, "service:")),
		"ports with network_mode "+svc.NetworkMode+" (not published, as with Docker)")
	mode := svc.NetworkMode
	if mode == "" || mode == "bridge" || mode == "default" {
		out = append(out, b.net.unsupported(len(svc.Networks))...)
	}
	add(svc.DomainName != "", "domainname")
	add(len(svc.Gpus) > 0, "gpus")
	add(svc.Logging != nil && !logopts.FileDriver(svc.Logging.Driver), "logging driver "+logDriver(svc.Logging)+" (logs are kept in files, as with json-file)")
	add(svc.Ipc != "", "ipc")
	add(svc.Pid != "", "pid")
	add(svc.Uts != "", "uts")
	add(svc.UserNSMode != "", "userns_mode")
	add(svc.Cgroup != "", "cgroup")
	add(svc.CgroupParent != "", "cgroup_parent")
	add(svc.MacAddress != "", "mac_address")
	add(len(svc.Links) > 0, "links")
	add(len(svc.ExternalLinks) > 0, "external_links")
	add(svc.MemReservation != 0, "mem_reservation")
	add(svc.MemSwapLimit != 0, "memswap_limit")
	add(svc.MemSwappiness != 0, "mem_swappiness")
	add(svc.OomKillDisable, "oom_kill_disable")
	add(svc.OomScoreAdj != 0, "oom_score_adj")
	add(svc.CPUShares != 0, "cpu_shares")
	add(svc.CPUSet != "", "cpuset")
	add(svc.CPUQuota != 0 || svc.CPUPeriod != 0, "cpu_quota/cpu_period")
	add(svc.BlkioConfig != nil, "blkio_config")
	add(svc.StorageOpt != nil, "storage_opt")
	add(svc.Platform != "", "platform")
	add(svc.Runtime != "", "runtime")
	add(len(svc.PreStart) > 0 || len(svc.PostStart) > 0 || len(svc.PreStop) > 0, "lifecycle hooks")
	for _, opt := range svc.SecurityOpt {
		k, v, _ := strings.Cut(strings.ReplaceAll(opt, "=", ":"), ":")
		if !(k == "no-new-privileges" && (v == "" || v == "true" || v == "false")) && !(k == "seccomp" && v == "unconfined") {
			out = append(out, "security_opt "+opt)
		}
	}
	for _, v := range svc.Volumes {
		if v.Bind != nil && v.Bind.Propagation != "" {
			out = append(out, "volumes bind.propagation")
		}
	}
	if mode != "host" {
		host, _ := etcfiles.HostResolvConf()
		if conf, dropped := etcfiles.ResolvConf(host, etcfiles.DNS{}); len(dropped) > 0 && !bytes.Contains(conf, []byte("nameserver ")) {
			out = append(out, "dns: the host's resolv.conf lists only loopback nameservers, which a container cannot reach; it gets none")
		}
	}
	return out
}

func logDriver(l *types.LoggingConfig) string {
	if l == nil {
		return ""
	}
	return l.Driver
}
