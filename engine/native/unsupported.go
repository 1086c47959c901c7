package native

import (
	"bytes"
	"slices"

	"github.com/hoist-dev/hoist/engine/native/etcfiles"
	"github.com/hoist-dev/hoist/engine/native/runtime/cgroup"
	"github.com/hoist-dev/hoist/internal/logopts"
	"github.com/hoist-dev/hoist/internal/userns"
	"github.com/hoist-dev/hoist/runspec"
)

// Unsupported lists what of c the native engine does not apply yet, so
// that the caller can warn once, naming it.
func (b *Backend) Unsupported(c runspec.Container) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	n := c.Network
	bridged := n.Mode == runspec.NetworkAttach
	add(n.Mode == runspec.NetworkBridge, "network_mode bridge (the native engine has no default bridge: the container gets a network of its own with only loopback; use a compose network)")
	add(len(n.Ports) > 0 && !bridged, "ports with network_mode "+string(n.Mode)+" (not published, as with Docker)")
	add(slices.ContainsFunc(n.Attachments, func(a runspec.Attachment) bool { return a.IPv6 != "" }), "networks ipv6_address")
	add(slices.ContainsFunc(n.Attachments, func(a runspec.Attachment) bool { return a.MacAddress != "" }), "mac_address")
	pr, res, sec, ns := c.Process, c.Resources, c.Security, c.Namespaces
	add(pr.Domainname != "", "domainname")
	add(c.Logging.Driver != "" && !logopts.FileDriver(c.Logging.Driver), "logging driver "+c.Logging.Driver+" (logs are kept in files, as with json-file)")
	add(ns.IPC != "", "ipc")
	add(ns.PID != "", "pid (every container gets a pid namespace of its own)")
	add(ns.UTS != "", "uts")
	// keep-id is carried (rootless) or refused at create (record.go).
	add(ns.UserNS != "" && ns.UserNS != "keep-id", "userns_mode")
	add(ns.Cgroup != "", "cgroup")
	add(res.CgroupParent != "", "cgroup_parent")
	add(res.MemoryReservation != 0, "mem_reservation")
	add(res.MemorySwap != 0 && res.MemoryLimit == 0, "memswap_limit without mem_limit")
	add(res.MemorySwappiness != nil, "mem_swappiness")
	add(res.OomKillDisable, "oom_kill_disable")
	add(res.OomScoreAdj != 0, "oom_score_adj")
	add(res.CPUShares != 0, "cpu_shares")
	add(res.CPUSet != "", "cpuset")
	add(res.CPUQuota != 0 || res.CPUPeriod != 0, "cpu_quota/cpu_period")
	add(res.CPURealtimePeriod != 0 || res.CPURealtimeRuntime != 0, "cpu_rt_period/cpu_rt_runtime")
	add(res.BlkioWeight != 0, "blkio_config")
	add(len(c.StorageOpt) > 0, "storage_opt")
	add(c.Platform != "", "platform")
	add(c.Runtime != "", "runtime")
	add(c.VolumeDriver != "", "volume_driver")
	add(len(c.VolumesFrom) > 0, "volumes_from")
	add(sec.Seccomp != "" && sec.Seccomp != "unconfined", "security_opt seccomp=PROFILE (the default profile applies)")
	for _, opt := range sec.Options {
		out = append(out, "security_opt "+opt)
	}
	for _, m := range c.Mounts {
		add(m.Propagation != "", "volumes bind.propagation")
		add(m.SELinux != "", "volumes bind.selinux")
		add(m.Recursive != "", "volumes bind.recursive")
		add(len(m.VolumeLabels) > 0, "volumes volume.labels")
	}
	if n.Mode != runspec.NetworkHost {
		host, _ := etcfiles.HostResolvConf()
		if conf, dropped := etcfiles.ResolvConf(host, etcfiles.DNS{}); len(dropped) > 0 && !bytes.Contains(conf, []byte("nameserver ")) {
			out = append(out, "dns: the host's resolv.conf lists only loopback nameservers, which a container cannot reach; it gets none")
		}
	}
	out = append(out, rootlessIgnored(res)...)
	slices.Sort(out)
	return slices.Compact(out)
}

// rootlessIgnored names the limits of res that need a cgroup, which a
// rootless container (in a user namespace) does not get: cgroup v1 gives
// a user none, and v2's delegation is not used yet.
func rootlessIgnored(res runspec.Resources) []string {
	if !userns.Inside() {
		return nil
	}
	why := " (cgroup v1 gives rootless users no cgroups)"
	if cgroup.IsV2() {
		why = " (rootless containers get no cgroup yet, even on cgroup v2)"
	}
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name+why)
		}
	}
	add(res.MemoryLimit != 0, "mem_limit")
	add(res.MemorySwap > 0, "memswap_limit")
	add(res.NanoCPUs != 0, "cpus")
	add(res.PidsLimit != nil && *res.PidsLimit > 0, "pids_limit")
	return out
}
