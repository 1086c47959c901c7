package kube

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hoist-dev/hoist/runspec"
)

// safeSysctls are the sysctls Kubernetes allows every pod (its "safe"
// set as of v1.32); others need the kubelet's --allowed-unsafe-sysctls.
var safeSysctls = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ping_group_range",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_wmem",
}

// maxEnv is the size of an environment beyond which it goes into a
// ConfigMap (envFrom), which keeps the pod template readable.
const maxEnv = 32

// escapeRef keeps Kubernetes from expanding $(NAME) in a value: compose
// has already interpolated, and a "$" left is meant literally. Every
// "$$" becomes "$" there, so doubling each "$" is exact.
func escapeRef(s string) string { return strings.ReplaceAll(s, "$", "$$") }

func escapeAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = escapeRef(s)
	}
	return out
}

// seconds rounds d up to whole seconds, at least min.
func seconds(d time.Duration, min int32) int32 {
	s := int32((d + time.Second - 1) / time.Second)
	return max(s, min)
}

// podSpec maps s's container configuration. kind is the workload's
// kind, which decides the restart policy.
func (c *converter) podSpec(s service, name, kind string) corev1.PodSpec {
	rc := s.c
	ct := corev1.Container{
		Name:       name,
		Image:      rc.Image,
		Command:    escapeAll(rc.Process.Entrypoint),
		Args:       escapeAll(rc.Process.Command),
		WorkingDir: rc.Process.WorkingDir,
		TTY:        rc.Process.TTY,
		Stdin:      rc.Process.StdinOpen,
	}
	if img, ok := c.o.Images[s.Name]; ok {
		ct.Image = img
	}
	if rc.Process.Entrypoint != nil && len(rc.Process.Entrypoint) == 0 {
		c.warn(s.Name, "entrypoint", "an empty entrypoint (none) cannot be said in Kubernetes: the image's entrypoint runs", "give the command to run as entrypoint")
	}
	spec := corev1.PodSpec{}
	c.pullPolicy(s, &ct)
	c.env(s, name, &ct)
	c.resources(s, &ct)
	c.security(s, &spec, &ct)
	c.health(s, &ct)
	c.stop(s, &spec, &ct)
	c.podNetwork(s, &spec)
	c.mounts(s, &spec, &ct)
	c.podPlacement(s, &spec)
	if rc.Process.Init != nil && *rc.Process.Init {
		// The pause container is then PID 1 of the pod and reaps
		// orphans, as docker's init does for one container.
		spec.ShareProcessNamespace = ptr(true)
	}
	spec.RestartPolicy = c.restartPolicy(s, kind)
	spec.InitContainers = c.waits(s)
	if len(spec.InitContainers) > 0 {
		spec.ServiceAccountName = c.waitAccount()
	}
	spec.Containers = []corev1.Container{ct}
	return spec
}

func ptr[T any](v T) *T { return &v }

func (c *converter) pullPolicy(s service, ct *corev1.Container) {
	switch s.PullPolicy {
	case "":
	case "always":
		ct.ImagePullPolicy = corev1.PullAlways
	case "never":
		ct.ImagePullPolicy = corev1.PullNever
	case "missing", "if_not_present":
		ct.ImagePullPolicy = corev1.PullIfNotPresent
	default:
		c.warn(s.Name, "pull_policy", fmt.Sprintf("pull_policy %q has no Kubernetes equivalent: the kubelet's default applies", s.PullPolicy), "")
	}
}

func (c *converter) env(s service, name string, ct *corev1.Container) {
	var env []corev1.EnvVar
	for _, e := range s.c.Process.Env {
		if e.Unset {
			c.warn(s.Name, keyed("environment", e.Name), fmt.Sprintf("%s is listed without a value and is not set: Kubernetes cannot unset the image's variable", e.Name), "give it a value, or remove it")
			continue
		}
		env = append(env, corev1.EnvVar{Name: e.Name, Value: escapeRef(e.Value)})
	}
	if len(env) <= maxEnv {
		ct.Env = env
		return
	}
	// A ConfigMap's values are not expanded: they go in as they are.
	data := map[string]string{}
	for _, e := range s.c.Process.Env {
		if !e.Unset {
			data[e.Name] = e.Value
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: c.meta(name+"-env", s.Name, nil), Data: data}
	cm.TypeMeta.APIVersion, cm.TypeMeta.Kind = "v1", "ConfigMap"
	c.add("v1", "ConfigMap", cm.Name, cm)
	ct.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}}
}

func (c *converter) resources(s service, ct *corev1.Container) {
	r := s.c.Resources
	d := s.c.Deploy.Resources
	limits, requests := corev1.ResourceList{}, corev1.ResourceList{}
	if r.NanoCPUs > 0 {
		limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(r.NanoCPUs/1e6, resource.DecimalSI)
	}
	if r.MemoryLimit > 0 {
		limits[corev1.ResourceMemory] = *resource.NewQuantity(r.MemoryLimit, resource.BinarySI)
	}
	if d.Reservations.NanoCPUs > 0 {
		requests[corev1.ResourceCPU] = *resource.NewMilliQuantity(d.Reservations.NanoCPUs/1e6, resource.DecimalSI)
	}
	mem := d.Reservations.MemoryBytes
	if mem == 0 {
		mem = r.MemoryReservation
	}
	if mem > 0 {
		requests[corev1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
	}
	if len(limits) > 0 {
		ct.Resources.Limits = limits
	}
	if len(requests) > 0 {
		ct.Resources.Requests = requests
	}
	warn := func(set bool, key, what string) {
		if set {
			c.warn(s.Name, key, what+": not carried, Kubernetes has no per-container setting", "set it on the nodes (the kubelet), or remove it")
		}
	}
	warn(r.PidsLimit != nil || d.Limits.Pids > 0, "pids_limit", "pids_limit")
	warn(len(r.Ulimits) > 0, "ulimits", "ulimits")
	warn(r.CPUShares != 0, "cpu_shares", "cpu_shares")
	warn(r.CPUQuota != 0 || r.CPUPeriod != 0, "cpu_quota", "cpu_quota and cpu_period")
	warn(r.CPUSet != "", "cpuset", "cpuset")
	warn(r.CPURealtimePeriod != 0 || r.CPURealtimeRuntime != 0, "cpu_rt_runtime", "cpu_rt_runtime and cpu_rt_period")
	warn(r.MemorySwap != 0 || r.MemorySwappiness != nil, "memswap_limit", "memswap_limit and mem_swappiness")
	warn(r.OomKillDisable, "oom_kill_disable", "oom_kill_disable")
	warn(r.OomScoreAdj != 0, "oom_score_adj", "oom_score_adj")
	warn(r.BlkioWeight != 0, "blkio_config", "blkio_config")
	warn(r.CgroupParent != "", "cgroup_parent", "cgroup_parent")
	warn(len(d.Generic) > 0, "deploy.resources.reservations.generic_resources", "generic_resources")
}

func (c *converter) security(s service, spec *corev1.PodSpec, ct *corev1.Container) {
	sec := s.c.Security
	sc := &corev1.SecurityContext{}
	if sec.Privileged {
		sc.Privileged = ptr(true)
	}
	if sec.ReadonlyRootfs {
		sc.ReadOnlyRootFilesystem = ptr(true)
	}
	if sec.NoNewPrivileges {
		sc.AllowPrivilegeEscalation = ptr(false)
	}
	capName := func(n string) corev1.Capability {
		return corev1.Capability(strings.TrimPrefix(strings.ToUpper(n), "CAP_"))
	}
	if len(sec.CapAdd) > 0 || len(sec.CapDrop) > 0 {
		sc.Capabilities = &corev1.Capabilities{}
		for _, n := range sec.CapAdd {
			sc.Capabilities.Add = append(sc.Capabilities.Add, capName(n))
		}
		for _, n := range sec.CapDrop {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, capName(n))
		}
	}
	switch sec.Seccomp {
	case "":
	case "unconfined":
		sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	default:
		c.warn(s.Name, "security_opt", "a seccomp profile file must be on every node as a Localhost profile; it is not carried", "install it under the kubelet's seccomp directory and set seccompProfile")
	}
	if sec.UnmaskPaths {
		// An unmasked /proc needs a user namespace (hostUsers: false)
		// and a feature gate: not carried as written.
		c.warn(s.Name, "security_opt", "systempaths=unconfined is not carried", "set procMount: Unmasked with hostUsers: false where the cluster allows it")
	}
	for _, o := range sec.Options {
		c.warn(s.Name, "security_opt", fmt.Sprintf("security_opt %q is not carried", o), "use the pod's securityContext (appArmorProfile, seLinuxOptions) after converting")
	}
	if u := s.c.Process.User; u != "" {
		user, group, hasGroup := strings.Cut(u, ":")
		uid, err := strconv.ParseInt(user, 10, 64)
		if err != nil {
			c.warn(s.Name, "user", fmt.Sprintf("user %q is a name: Kubernetes takes numeric IDs only, so the image's user runs", u), "give the numeric uid[:gid]")
		} else {
			sc.RunAsUser = ptr(uid)
			if hasGroup {
				if gid, err := strconv.ParseInt(group, 10, 64); err == nil {
					sc.RunAsGroup = ptr(gid)
				} else {
					c.warn(s.Name, "user", fmt.Sprintf("group %q is a name: Kubernetes takes numeric IDs only", group), "give the numeric gid")
				}
			}
		}
	}
	if *sc != (corev1.SecurityContext{}) {
		ct.SecurityContext = sc
	}
	psc := &corev1.PodSecurityContext{}
	for _, g := range s.c.Process.GroupAdd {
		if gid, err := strconv.ParseInt(g, 10, 64); err == nil {
			psc.SupplementalGroups = append(psc.SupplementalGroups, gid)
		} else {
			c.warn(s.Name, "group_add", fmt.Sprintf("group %q is a name: Kubernetes takes numeric IDs only", g), "give the numeric gid")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(sec.Sysctls)) {
		if !slices.Contains(safeSysctls, k) {
			c.warn(s.Name, keyed("sysctls", k), fmt.Sprintf("sysctl %s is not one Kubernetes allows every pod: it is not carried", k), "allow it on the kubelets (--allowed-unsafe-sysctls) and add it to the pod's securityContext")
			continue
		}
		psc.Sysctls = append(psc.Sysctls, corev1.Sysctl{Name: k, Value: sec.Sysctls[k]})
	}
	if psc.SupplementalGroups != nil || psc.Sysctls != nil {
		spec.SecurityContext = psc
	}
	ns := s.c.Namespaces
	switch ns.PID {
	case "":
	case "host":
		spec.HostPID = true
	default:
		c.warn(s.Name, "pid", fmt.Sprintf("pid %q: a pod shares no namespace with another pod", ns.PID), "")
	}
	switch ns.IPC {
	case "", "private", "shareable":
	case "host":
		spec.HostIPC = true
	default:
		c.warn(s.Name, "ipc", fmt.Sprintf("ipc %q: a pod shares no namespace with another pod", ns.IPC), "")
	}
	if ns.UTS == "host" {
		c.warn(s.Name, "uts", "uts: host has no pod setting apart from the host's network", "use network_mode: host")
	}
	if ns.UserNS != "" {
		c.warn(s.Name, "userns_mode", fmt.Sprintf("userns_mode %q is not carried", ns.UserNS), "set hostUsers on the pod")
	}
	if ns.Cgroup != "" {
		c.warn(s.Name, "cgroup", "cgroup is not carried", "")
	}
	if len(s.c.Devices) > 0 || len(s.c.DeviceRules) > 0 {
		key := "devices"
		if len(s.Devices) == 0 {
			key = "device_cgroup_rules"
		}
		c.warn(s.Name, key, "devices are not carried: a pod gets a node's devices through a device plugin", "use a device plugin's resource")
	}
}

// probeHandler is the healthcheck's test as an exec action.
func probeHandler(test []string) corev1.ProbeHandler {
	cmd := test[1:]
	if test[0] == "CMD-SHELL" {
		cmd = []string{"/bin/sh", "-c", strings.Join(test[1:], " ")}
	}
	return corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: slices.Clone(cmd)}}
}

// health maps the healthcheck to probes: readiness (what service_healthy
// waits for and what Services route by) and liveness (a container that
// stays unhealthy is restarted, where docker only marks it), with a
// startup probe for start_period: its failures do not count, as in
// docker, and it probes every start_interval.
func (c *converter) health(s service, ct *corev1.Container) {
	h := s.c.Health
	if h.Mode == runspec.HealthInherit {
		if c.waitedHealthy(s.Name) {
			c.warn(s.Name, "healthcheck", "another service waits for this one to be healthy, and its healthcheck is the image's, which Kubernetes does not run", "write the healthcheck in the compose file")
		}
		return
	}
	if h.Mode != runspec.HealthSet || len(h.Test) == 0 {
		return
	}
	interval := cmp(h.Interval, runspec.DefaultHealthInterval)
	timeout := cmp(h.Timeout, runspec.DefaultHealthTimeout)
	retries := h.Retries
	if retries == 0 {
		retries = runspec.DefaultHealthRetries
	}
	probe := func() *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:     probeHandler(h.Test),
			PeriodSeconds:    seconds(interval, 1),
			TimeoutSeconds:   seconds(timeout, 1),
			FailureThreshold: int32(retries),
			SuccessThreshold: 1,
		}
	}
	ct.ReadinessProbe = probe()
	ct.LivenessProbe = probe()
	if h.StartPeriod > 0 {
		every := cmp(h.StartInterval, runspec.DefaultHealthStartInterval)
		sp := probe()
		sp.PeriodSeconds = seconds(every, 1)
		sp.FailureThreshold = seconds(h.StartPeriod, 1)/sp.PeriodSeconds + int32(retries)
		ct.StartupProbe = sp
	}
}

func cmp(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (c *converter) stop(s service, spec *corev1.PodSpec, ct *corev1.Container) {
	st := s.c.Stop
	if st.GracePeriod != nil {
		spec.TerminationGracePeriodSeconds = ptr(int64(*st.GracePeriod / time.Second))
	}
	sig := strings.TrimPrefix(strings.ToUpper(st.Signal), "SIG")
	if sig == "" || sig == "TERM" || sig == "15" {
		return
	}
	// The kubelet sends SIGTERM after the hook: the process has had its
	// own signal first, as docker gives it. The hook needs a shell and
	// kill in the image.
	ct.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
		Command: []string{"/bin/sh", "-c", "kill -s " + sig + " 1"},
	}}}
	if s.c.Process.Init != nil && *s.c.Process.Init {
		c.warn(s.Name, "stop_signal", "with init: true the pod's PID 1 is its pause process, so the preStop hook's signal to PID 1 does not reach the service", "drop init, or handle SIGTERM")
	}
}

func (c *converter) restartPolicy(s service, kind string) corev1.RestartPolicy {
	r := s.c.Restart
	if kind == "Job" {
		if r.Mode == runspec.RestartOnFailure || r.Mode == runspec.RestartAlways || r.Mode == runspec.RestartUnlessStopped {
			return corev1.RestartPolicyOnFailure
		}
		return corev1.RestartPolicyNever
	}
	if r.Mode != runspec.RestartAlways && r.Mode != runspec.RestartUnlessStopped {
		key := "restart"
		if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
			key = "deploy.restart_policy"
		}
		if s.Restart != "" || key != "restart" {
			c.warn(s.Name, key, fmt.Sprintf("restart %q: a %s always restarts its pods", r.Mode, kind), "run it as a job: deploy.mode: replicated-job, or let a service wait for it with condition service_completed_successfully")
		}
	}
	return corev1.RestartPolicyAlways
}

func (c *converter) podNetwork(s service, spec *corev1.PodSpec) {
	n := s.c.Network
	switch {
	case n.Mode == runspec.NetworkHost:
		spec.HostNetwork = true
	case n.Mode == runspec.NetworkNone:
		c.warn(s.Name, "network_mode", "network_mode none: a pod always has a network", "")
	case n.Mode == runspec.NetworkBridge:
	case n.Mode != runspec.NetworkAttach:
		c.warn(s.Name, "network_mode", fmt.Sprintf("network_mode %q: a pod shares no network with another pod", n.Mode), "run the two as one service, or use networks:")
	}
	for _, a := range n.Attachments {
		if a.IPv4 != "" || a.IPv6 != "" {
			c.warn(s.Name, "networks", "a fixed address (ipv4_address, ipv6_address) is not carried: pods get theirs from the cluster", "reach it by name")
		}
		if a.MacAddress != "" {
			c.warn(s.Name, "mac_address", "mac_address is not carried", "")
		}
	}
	if len(n.DNS) > 0 || len(n.DNSSearch) > 0 || len(n.DNSOptions) > 0 {
		dc := &corev1.PodDNSConfig{Nameservers: slices.Clone(n.DNS), Searches: slices.Clone(n.DNSSearch)}
		for _, o := range n.DNSOptions {
			k, v, hasV := strings.Cut(o, ":")
			opt := corev1.PodDNSConfigOption{Name: k}
			if hasV {
				opt.Value = ptr(v)
			}
			dc.Options = append(dc.Options, opt)
		}
		spec.DNSConfig = dc
	}
	byIP := map[string][]string{}
	var ips []string
	for _, h := range n.ExtraHosts {
		name, ip, _ := strings.Cut(h, ":")
		if ip == "host-gateway" {
			c.warn(s.Name, "extra_hosts", fmt.Sprintf("%s: host-gateway has no meaning in a cluster", name), "give an address")
			continue
		}
		if _, ok := byIP[ip]; !ok {
			ips = append(ips, ip)
		}
		byIP[ip] = append(byIP[ip], name)
	}
	for _, ip := range ips {
		spec.HostAliases = append(spec.HostAliases, corev1.HostAlias{IP: strings.Trim(ip, "[]"), Hostnames: byIP[ip]})
	}
	if h := s.c.Process.Hostname; h != "" {
		host, sub, _ := strings.Cut(h, ".")
		spec.Hostname = dnsLabel(host)
		if spec.Hostname != host || sub != "" {
			c.warn(s.Name, "hostname", fmt.Sprintf("hostname %q is %q in Kubernetes (a pod's hostname is one DNS label)", h, spec.Hostname), "")
		}
	}
	if s.c.Process.Domainname != "" {
		c.warn(s.Name, "domainname", "domainname is not carried: a pod's domain is its namespace's", "")
	}
}

func (c *converter) podPlacement(s service, spec *corev1.PodSpec) {
	if pf := s.c.Platform; pf != "" {
		osName, arch, _ := strings.Cut(pf, "/")
		arch, _, _ = strings.Cut(arch, "/")
		spec.NodeSelector = map[string]string{"kubernetes.io/os": osName}
		if arch != "" {
			spec.NodeSelector["kubernetes.io/arch"] = arch
		}
	}
	for _, con := range s.c.Deploy.Placement.Constraints {
		k, v, ok := strings.Cut(strings.ReplaceAll(con, " ", ""), "==")
		if lbl, isLabel := strings.CutPrefix(k, "node.labels."); ok && isLabel {
			if spec.NodeSelector == nil {
				spec.NodeSelector = map[string]string{}
			}
			spec.NodeSelector[lbl] = v
			continue
		}
		c.warn(s.Name, "deploy.placement.constraints", fmt.Sprintf("constraint %q is not carried: only node.labels.KEY==VALUE maps (to a nodeSelector)", con), "")
	}
	if len(s.c.Deploy.Placement.Preferences) > 0 || s.c.Deploy.Placement.MaxReplicasPerNode > 0 {
		c.warn(s.Name, "deploy.placement", "placement preferences and max_replicas_per_node are not carried", "use topologySpreadConstraints")
	}
}

// mounts maps volumes, tmpfs, shm_size, secrets and configs.
func (c *converter) mounts(s service, spec *corev1.PodSpec, ct *corev1.Container) {
	vol := func(name string, src corev1.VolumeSource) string {
		name = fmt.Sprintf("%s-%d", name, len(spec.Volumes))
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: src})
		return name
	}
	for i, m := range s.c.Mounts {
		key := "volumes." + strconv.Itoa(i)
		vm := corev1.VolumeMount{MountPath: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case runspec.MountVolume:
			if m.Source == "" {
				vm.Name = vol("anon", corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}})
				break
			}
			vm.Name = vol("data", corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.claimName(m.Source)}})
			vm.SubPath = m.Subpath
			if m.NoCopy {
				c.warn(s.Name, key, "nocopy: a claim is never filled from the image", "")
			}
		case runspec.MountBind:
			if !c.o.AllowHostPaths {
				c.fail(s.Name, key, fmt.Sprintf("bind mount of %s: a node's files are not the project's", m.Source), "use a named volume, a config, or --allow-host-paths (hostPath)")
				continue
			}
			t := corev1.HostPathUnset
			if m.CreateHostPath {
				t = corev1.HostPathDirectoryOrCreate
			}
			vm.Name = vol("host", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m.Source, Type: &t}})
			switch m.Propagation {
			case "", "rprivate", "private":
			case "rslave", "slave":
				vm.MountPropagation = ptr(corev1.MountPropagationHostToContainer)
			default:
				// Kubernetes allows Bidirectional to privileged
				// containers only.
				if s.c.Security.Privileged {
					vm.MountPropagation = ptr(corev1.MountPropagationBidirectional)
				} else {
					vm.MountPropagation = ptr(corev1.MountPropagationHostToContainer)
					c.warn(s.Name, key, fmt.Sprintf("propagation %s needs a privileged container in Kubernetes: it is rslave (HostToContainer)", m.Propagation), "")
				}
			}
			if m.SELinux != "" || m.Recursive != "" {
				c.warn(s.Name, key, "a bind mount's selinux and recursive options are not carried", "")
			}
		case runspec.MountTmpfs:
			ed := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
			if m.Tmpfs != nil && m.Tmpfs.SizeBytes > 0 {
				ed.SizeLimit = resource.NewQuantity(m.Tmpfs.SizeBytes, resource.BinarySI)
			}
			if m.Tmpfs != nil && (m.Tmpfs.Mode != 0 || m.Tmpfs.UID != 0 || m.Tmpfs.GID != 0) {
				k := key
				if m.Tmpfs.FromKey {
					k = "tmpfs"
				}
				c.warn(s.Name, k, "a tmpfs's mode, uid and gid are not carried: a memory emptyDir is 0777", "")
			}
			vm.Name = vol("tmpfs", corev1.VolumeSource{EmptyDir: ed})
		}
		ct.VolumeMounts = append(ct.VolumeMounts, vm)
	}
	if sz := s.c.Resources.ShmSize; sz > 0 {
		name := vol("shm", corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: resource.NewQuantity(sz, resource.BinarySI)}})
		ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: "/dev/shm"})
	}
	for i, ref := range s.c.Deploy.Secrets {
		name := c.object(s, "secret", i, ref)
		if name == "" {
			continue
		}
		v := vol("secret", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name,
			Items: []corev1.KeyToPath{{Key: objectKey(ref), Path: objectKey(ref), Mode: ptr(int32(ref.Mode))}}}})
		ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: ref.Target, SubPath: objectKey(ref), ReadOnly: true})
	}
	for i, ref := range s.c.Deploy.Configs {
		name := c.object(s, "config", i, ref)
		if name == "" {
			continue
		}
		v := vol("config", corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name},
			Items: []corev1.KeyToPath{{Key: objectKey(ref), Path: objectKey(ref), Mode: ptr(int32(ref.Mode))}}}})
		ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: v, MountPath: ref.Target, SubPath: objectKey(ref), ReadOnly: true})
	}
}
