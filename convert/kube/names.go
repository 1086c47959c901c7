package kube

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// compose's own labels, as docker compose and docker stack put them on
// what they create, so that a reader of the cluster sees the project.
const (
	labelProject = "com.docker.compose.project"
	labelService = "com.docker.compose.service"
	// labelNetwork marks a pod's membership of a compose network, for
	// the NetworkPolicies.
	labelNetworkPrefix = "network.hoist.dev/"
)

var reNotLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsLabel makes s a DNS-1123 label, as Service names must be: lower
// case, '_' and '.' as '-', at most 63 characters.
func dnsLabel(s string) string {
	n := reNotLabel.ReplaceAllString(strings.ToLower(s), "-")
	n = strings.Trim(n, "-")
	if len(n) > validation.DNS1123LabelMaxLength {
		n = strings.TrimRight(n[:validation.DNS1123LabelMaxLength], "-")
	}
	if n == "" {
		n = "x"
	}
	return n
}

// name takes the Kubernetes name for a compose name of kind, reporting
// a name that changes (a compose service's must resolve as written) or
// that another compose name already took.
func (c *converter) name(kind, svc, key, composeName string, mustKeep bool) string {
	n := dnsLabel(composeName)
	taken := c.names[kind]
	if taken == nil {
		taken = map[string]string{}
		c.names[kind] = taken
	}
	if other, ok := taken[n]; ok && other != composeName {
		c.fail(svc, key, fmt.Sprintf("%q and %q are both the Kubernetes %s %q", other, composeName, kind, n), "rename one of them")
	}
	taken[n] = composeName
	if mustKeep && n != composeName {
		c.warn(svc, key, fmt.Sprintf("%q is not a DNS label: its Kubernetes name is %q, and only that name resolves", composeName, n), "use lower-case letters, digits and '-'")
	}
	return n
}

// selector is what picks a service's pods.
func (c *converter) selector(svc string) map[string]string {
	return map[string]string{labelProject: c.p.Name, labelService: svc}
}

// meta is an object's metadata: compose's labels over the given ones,
// those that are no valid Kubernetes label becoming annotations.
func (c *converter) meta(name, svc string, labels map[string]string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Name: name, Namespace: c.o.Namespace, Labels: map[string]string{labelProject: c.p.Name}}
	if svc != "" {
		m.Labels[labelService] = svc
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if _, own := m.Labels[k]; own {
			continue
		}
		v := labels[k]
		if len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(v)) == 0 {
			m.Labels[k] = v
			continue
		}
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[k] = v
	}
	return m
}
