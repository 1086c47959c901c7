package kube

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/runspec"
)

// kind is the workload a service becomes: a Job when it runs to
// completion (a job mode, or others wait for its completion), a
// DaemonSet when global, a StatefulSet when one replica keeps a named
// volume (one pod at a time, with a stable name), else a Deployment.
func (c *converter) kind(s service) string {
	switch {
	case s.c.Deploy.Mode.Job() || c.waitedCompleted(s.Name):
		return "Job"
	case s.c.Deploy.Mode == runspec.ModeGlobal:
		return "DaemonSet"
	case s.c.Deploy.Replicas == 1 && slices.ContainsFunc(s.c.Mounts, func(m runspec.Mount) bool { return m.Type == runspec.MountVolume && m.Source != "" }):
		return "StatefulSet"
	}
	return "Deployment"
}

// waitedCompleted reports whether a service of the project waits for
// name to complete.
func (c *converter) waitedCompleted(name string) bool {
	return slices.ContainsFunc(compose.Edges(c.p), func(e compose.Edge) bool {
		return e.To == name && e.Condition == "service_completed_successfully"
	})
}

func (c *converter) waitedHealthy(name string) bool {
	return slices.ContainsFunc(compose.Edges(c.p), func(e compose.Edge) bool {
		return e.To == name && e.Condition == "service_healthy"
	})
}

func (c *converter) service(s service) {
	name := c.name("Service", s.Name, "", s.Name, true)
	kind := c.kinds[s.Name]
	c.checkImage(s)
	if s.ContainerName != "" {
		c.warn(s.Name, "container_name", "container_name is not carried: Kubernetes names pods itself", "")
	}
	if s.c.Logging.Driver != "" || len(s.c.Logging.Options) > 0 {
		c.warn(s.Name, "logging", "logging is not carried: the cluster collects container output", "")
	}
	if s.c.Runtime != "" {
		c.warn(s.Name, "runtime", "runtime is not carried", "use a RuntimeClass (runtimeClassName)")
	}
	if len(s.c.StorageOpt) > 0 {
		c.warn(s.Name, "storage_opt", "storage_opt is not carried", "")
	}
	if s.c.VolumeDriver != "" {
		c.warn(s.Name, "volume_driver", "volume_driver is not carried: the cluster's default storage class backs the claims", "")
	}
	if r := s.c.Deploy.Restart; r != nil && (r.Delay != nil || r.Window != nil) {
		c.warn(s.Name, "deploy.restart_policy", "restart_policy delay and window are not carried: the kubelet's back-off applies", "")
	}
	if len(s.c.VolumesFrom) > 0 {
		c.warn(s.Name, "volumes_from", "volumes_from is not carried: pods share no volumes by reference", "mount the same named volume")
	}
	for _, f := range compose.Unmapped(s.ServiceConfig) {
		if f == "annotations" {
			continue // the pod's annotations, below
		}
		c.warn(s.Name, strings.Fields(f)[0], f+" is not carried", "")
	}
	for dep, d := range s.DependsOn {
		if d.Restart {
			c.warn(s.Name, keyed("depends_on", dep)+"\x00restart", "restart: true is not carried: a pod is not restarted when a dependency is", "")
		}
	}
	if u := s.c.Deploy.Update; u != nil && kind != "Job" {
		c.warn(s.Name, "deploy.update_config", "update_config is not carried: the workload's rolling update defaults apply", "")
	}
	if s.c.Deploy.Rollback != nil {
		c.warn(s.Name, "deploy.rollback_config", "rollback_config is not carried", "")
	}

	spec := c.podSpec(s, name, kind)
	podMeta := c.meta("", s.Name, s.c.Labels)
	podMeta.Name, podMeta.Namespace = "", ""
	// compose's annotations are the container's (OCI annotations); a
	// pod's are the nearest Kubernetes has.
	for k, v := range s.Annotations {
		if podMeta.Annotations == nil {
			podMeta.Annotations = map[string]string{}
		}
		podMeta.Annotations[k] = v
	}
	for _, a := range s.c.Network.Attachments {
		podMeta.Labels[labelNetworkPrefix+c.networkKey(a.Network)] = "true"
	}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: podMeta, Spec: spec}
	meta := c.meta(name, s.Name, s.c.Deploy.Labels)
	sel := &metav1.LabelSelector{MatchLabels: c.selector(s.Name)}
	replicas := ptr(int32(s.c.Deploy.Replicas))
	switch kind {
	case "Job":
		job := &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}}
		if s.c.Deploy.Mode == runspec.ModeGlobalJob {
			c.warn(s.Name, "deploy.mode", "global-job runs as one Job of one pod: a Job does not run on every node", "")
		} else if s.c.Deploy.Replicas != 1 {
			job.Spec.Completions, job.Spec.Parallelism = replicas, replicas
		}
		if n := s.c.Restart.MaxAttempts; n > 0 {
			job.Spec.BackoffLimit = ptr(int32(n))
		}
		job.APIVersion, job.Kind = "batch/v1", "Job"
		c.add("batch/v1", "Job", name, job)
	case "DaemonSet":
		ds := &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}
		ds.APIVersion, ds.Kind = "apps/v1", "DaemonSet"
		c.add("apps/v1", "DaemonSet", name, ds)
	case "StatefulSet":
		ss := &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: replicas, Selector: sel, Template: tmpl, ServiceName: name}}
		ss.APIVersion, ss.Kind = "apps/v1", "StatefulSet"
		c.add("apps/v1", "StatefulSet", name, ss)
	default:
		d := &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: replicas, Selector: sel, Template: tmpl}}
		d.APIVersion, d.Kind = "apps/v1", "Deployment"
		c.add("apps/v1", "Deployment", name, d)
	}
	c.services(s, name)
}

// checkImage: an image that is built must be pushed where every node
// can pull it, so it must name a registry.
func (c *converter) checkImage(s service) {
	if s.Build == nil {
		return
	}
	if _, ok := c.o.Images[s.Name]; ok {
		return
	}
	key := "image"
	if s.Image == "" {
		key = "build"
	}
	named, err := reference.ParseNormalizedNamed(s.c.Image)
	domain := ""
	if err == nil {
		domain = reference.Domain(named)
	}
	if s.Image == "" || domain == "docker.io" && !strings.HasPrefix(s.Image, "docker.io/") {
		c.fail(s.Name, key, fmt.Sprintf("the service is built and its image %q names no registry: every node must pull it", s.c.Image), "set image: to REGISTRY/NAME[:TAG] (and convert with --push to build and push it)")
	}
}

// networkKey is the compose key of an engine-level network name.
func (c *converter) networkKey(name string) string {
	for k, n := range c.p.Networks {
		if n.Name == name {
			return dnsLabel(k)
		}
	}
	return dnsLabel(name)
}

// services makes the service's Service (its compose name resolves, as
// on one machine; headless when it has no port), one per network alias,
// and one that publishes its host ports.
func (c *converter) services(s service, name string) {
	var ports []corev1.ServicePort
	seen := map[string]bool{}
	addPort := func(port int32, proto string) {
		p := corev1.Protocol(strings.ToUpper(proto))
		id := strings.ToLower(proto) + "-" + strconv.Itoa(int(port))
		if seen[id] {
			return
		}
		seen[id] = true
		ports = append(ports, corev1.ServicePort{Name: id, Port: port, TargetPort: intstr.FromInt32(port), Protocol: p})
	}
	var published []corev1.ServicePort
	for i, p := range s.c.Network.Ports {
		addPort(int32(p.ContainerPort), p.Protocol)
		if p.HostPort == "" {
			continue
		}
		host, err := strconv.Atoi(p.HostPort)
		if err != nil {
			c.warn(s.Name, "ports."+strconv.Itoa(i), fmt.Sprintf("host port range %q is not carried: the cluster picks the port", p.HostPort), "")
		}
		sp := corev1.ServicePort{Name: fmt.Sprintf("%s-%d", strings.ToLower(p.Protocol), p.ContainerPort), Port: int32(p.ContainerPort), TargetPort: intstr.FromInt32(int32(p.ContainerPort)), Protocol: corev1.Protocol(strings.ToUpper(p.Protocol))}
		switch {
		case host > 0 && c.o.Publish == PublishLoadBalancer:
			sp.Port = int32(host)
		case host >= 30000 && host <= 32767:
			sp.NodePort = int32(host)
		case host > 0:
			c.warn(s.Name, "ports."+strconv.Itoa(i), fmt.Sprintf("host port %d is outside the NodePort range (30000-32767): the cluster picks the node port", host), "publish with --publish loadbalancer, or use a port in that range")
		}
		if p.HostIP != "" {
			c.warn(s.Name, "ports."+strconv.Itoa(i), "a host_ip is not carried", "")
		}
		if !slices.ContainsFunc(published, func(o corev1.ServicePort) bool { return o.Name == sp.Name }) {
			published = append(published, sp)
		}
	}
	for i, e := range s.c.Network.Expose {
		spec, proto, _ := strings.Cut(e, "/")
		if proto == "" {
			proto = "tcp"
		}
		lo, hi, _ := strings.Cut(spec, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if hi != "" {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || b < a || b-a > 100 {
			c.warn(s.Name, "expose."+strconv.Itoa(i), fmt.Sprintf("expose %q is not carried", e), "list the ports")
			continue
		}
		for port := a; port <= b; port++ {
			addPort(int32(port), proto)
		}
	}
	headless := len(ports) == 0 || s.c.Deploy.EndpointMode == "dnsrr"
	mk := func(svcName string, ports []corev1.ServicePort) *corev1.Service {
		sv := &corev1.Service{ObjectMeta: c.meta(svcName, s.Name, nil), Spec: corev1.ServiceSpec{Selector: c.selector(s.Name), Ports: ports}}
		if headless {
			sv.Spec.ClusterIP = corev1.ClusterIPNone
		}
		sv.APIVersion, sv.Kind = "v1", "Service"
		return sv
	}
	c.add("v1", "Service", name, mk(name, ports))
	// An alias resolves on the networks it is given on; in a namespace
	// every name resolves everywhere, and the NetworkPolicies keep who
	// may connect.
	aliases := map[string]bool{}
	for _, a := range s.c.Network.Attachments {
		for _, al := range a.Aliases {
			if al == s.Name || aliases[al] {
				continue
			}
			aliases[al] = true
		}
	}
	for _, al := range slices.Sorted(maps.Keys(aliases)) {
		an := c.name("Service", s.Name, "networks", al, true)
		c.add("v1", "Service", an, mk(an, ports))
	}
	if len(published) > 0 {
		pn := c.name("Service", s.Name, "ports", s.Name+"-published", false)
		sv := &corev1.Service{ObjectMeta: c.meta(pn, s.Name, nil), Spec: corev1.ServiceSpec{Selector: c.selector(s.Name), Ports: published, Type: corev1.ServiceTypeNodePort}}
		if c.o.Publish == PublishLoadBalancer {
			sv.Spec.Type = corev1.ServiceTypeLoadBalancer
		}
		sv.APIVersion, sv.Kind = "v1", "Service"
		c.add("v1", "Service", pn, sv)
	}
}

// networkPolicies isolate as compose's networks do: a pod takes
// connections only from pods sharing one of its compose networks (each
// network's policy admits its members; policies add up), and on its
// published ports from anywhere.
func (c *converter) networkPolicies(svcs []service) {
	used := map[string]bool{}
	for _, s := range svcs {
		for _, a := range s.c.Network.Attachments {
			used[c.networkKey(a.Network)] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.p.Networks)) {
		n := c.p.Networks[k]
		if !used[dnsLabel(k)] {
			continue
		}
		if n.Internal {
			c.problems = append(c.problems, Problem{Path: []string{"networks", k, "internal"}, Warning: true,
				Msg: fmt.Sprintf("network %q: internal is not carried: its pods may still connect out", k), Hint: "add an egress NetworkPolicy"})
		}
		if n.Ipam.Driver != "" || len(n.Ipam.Config) > 0 || n.EnableIPv6 != nil && *n.EnableIPv6 {
			c.problems = append(c.problems, Problem{Path: []string{"networks", k}, Warning: true,
				Msg: fmt.Sprintf("network %q: ipam and enable_ipv6 are not carried: the cluster addresses pods", k)})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(used)) {
		members := &metav1.LabelSelector{MatchLabels: map[string]string{labelProject: c.p.Name, labelNetworkPrefix + k: "true"}}
		np := &networkingv1.NetworkPolicy{ObjectMeta: c.meta(dnsLabel(c.p.Name+"-network-"+k), "", nil), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *members,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: members}}}},
		}}
		np.APIVersion, np.Kind = "networking.k8s.io/v1", "NetworkPolicy"
		c.add("networking.k8s.io/v1", "NetworkPolicy", np.Name, np)
	}
	for _, s := range svcs {
		var ports []networkingv1.NetworkPolicyPort
		for _, p := range s.c.Network.Ports {
			if p.HostPort == "" {
				continue
			}
			proto := corev1.Protocol(strings.ToUpper(p.Protocol))
			port := intstr.FromInt32(int32(p.ContainerPort))
			ports = append(ports, networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port})
		}
		if len(ports) == 0 {
			continue
		}
		name := dnsLabel(c.p.Name + "-published-" + s.Name)
		np := &networkingv1.NetworkPolicy{ObjectMeta: c.meta(name, s.Name, nil), Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: c.selector(s.Name)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: ports}},
		}}
		np.APIVersion, np.Kind = "networking.k8s.io/v1", "NetworkPolicy"
		c.add("networking.k8s.io/v1", "NetworkPolicy", name, np)
	}
}

// waits are the init containers that wait for s's dependencies, with
// kubectl. Completed is its Job complete; healthy is its Deployment
// Available or its StatefulSet's pod available (readiness: the
// healthcheck), else a pod of it ready; started is a pod of it running.
// A wait on a workload by name first waits for it to exist; a wait on
// pods that finds none yet fails, and the kubelet runs it again (a Job's
// pod counts that against its backoff limit).
func (c *converter) waits(s service) []corev1.Container {
	var out []corev1.Container
	for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
		d := s.DependsOn[dep]
		if _, ok := c.p.Services[dep]; !ok {
			continue // an optional dependency that is not enabled
		}
		name := dnsLabel(dep)
		sel := fmt.Sprintf("%s=%s,%s=%s", labelProject, c.p.Name, labelService, dep)
		pods := func(cond string) []string {
			return []string{"wait", "--for=" + cond, "pod", "-l", sel, "--timeout=-1s"}
		}
		byName := func(kind, cond string) []string {
			return []string{"wait", "--for=create", "--for=" + cond, kind + "/" + name, "--timeout=-1s"}
		}
		var args []string
		switch kind := c.kinds[dep]; {
		case d.Condition == "service_completed_successfully" && kind == "Job":
			args = byName("job", "condition=Complete")
		case d.Condition == "service_healthy" && kind == "Deployment":
			args = byName("deployment", "condition=Available")
		case d.Condition == "service_healthy" && kind == "StatefulSet":
			args = byName("statefulset", "jsonpath={.status.availableReplicas}=1")
		case d.Condition == "service_healthy":
			args = pods("condition=Ready")
		default:
			args = pods("jsonpath={.status.phase}=Running")
		}
		out = append(out, corev1.Container{
			Name:    dnsLabel("wait-" + dep),
			Image:   c.o.WaitImage,
			Command: append([]string{"kubectl"}, args...),
		})
	}
	return out
}

func (c *converter) waitAccount() string { return dnsLabel(c.p.Name + "-wait") }

// waitAccess gives the waiting init containers read access to pods and
// jobs: a ServiceAccount, a Role and its RoleBinding, in the namespace.
func (c *converter) waitAccess(svcs []service) {
	if !slices.ContainsFunc(svcs, func(s service) bool { return len(s.DependsOn) > 0 }) {
		return
	}
	name := c.waitAccount()
	sa := &corev1.ServiceAccount{ObjectMeta: c.meta(name, "", nil)}
	sa.APIVersion, sa.Kind = "v1", "ServiceAccount"
	c.add("v1", "ServiceAccount", name, sa)
	role := &rbacv1.Role{ObjectMeta: c.meta(name, "", nil), Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: []string{"get", "list", "watch"}},
	}}
	role.APIVersion, role.Kind = "rbac.authorization.k8s.io/v1", "Role"
	c.add("rbac.authorization.k8s.io/v1", "Role", name, role)
	rb := &rbacv1.RoleBinding{ObjectMeta: c.meta(name, "", nil),
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: c.o.Namespace}},
	}
	if c.o.Namespace == "" {
		// A subject needs its namespace; the apply's is unknown here.
		rb.Subjects[0].Namespace = "default"
		c.warn("", "", "the wait's RoleBinding names namespace \"default\" for its ServiceAccount", "convert with --namespace")
	}
	rb.APIVersion, rb.Kind = "rbac.authorization.k8s.io/v1", "RoleBinding"
	c.add("rbac.authorization.k8s.io/v1", "RoleBinding", name, rb)
}
