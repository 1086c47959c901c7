package kube

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hoist-dev/hoist/runspec"
)

// sizeKey is the top-level volume's extension that sizes its claim.
const sizeKey = "x-hoist-size"

var reNotKey = regexp.MustCompile(`[^-._a-zA-Z0-9]+`)

// objectKey is the data key a secret or config is stored under.
func objectKey(ref runspec.ObjectRef) string { return reNotKey.ReplaceAllString(ref.Key, "_") }

// object makes the Secret or ConfigMap of a service's secret or config
// (once per compose object) and returns its name; "" when it cannot.
func (c *converter) object(s service, kind string, i int, ref runspec.ObjectRef) string {
	key := kind + "s." + strconv.Itoa(i)
	k8sKind := "Secret"
	external := bool(c.p.Secrets[ref.Key].External)
	if kind == "config" {
		k8sKind = "ConfigMap"
		external = bool(c.p.Configs[ref.Key].External)
	}
	name := c.name(k8sKind, s.Name, key, ref.Name, false)
	if ref.UID != "" || ref.GID != "" {
		c.warn(s.Name, key, "uid and gid of a mounted "+kind+" are not carried: the file belongs to root", "set the pod's fsGroup")
	}
	if external {
		c.warn(s.Name, key, fmt.Sprintf("%s %q is external: the %s %q must exist with the key %q", kind, ref.Key, k8sKind, name, objectKey(ref)), "")
		return name
	}
	if c.made(k8sKind, name) {
		return name
	}
	data := ref.Content
	if ref.File != "" {
		if c.o.ReadFile == nil {
			c.fail(s.Name, key, fmt.Sprintf("%s %q is a file, which this conversion does not read", kind, ref.Key), "")
			return ""
		}
		b, err := c.o.ReadFile(ref.File)
		if err != nil {
			c.fail(s.Name, key, fmt.Sprintf("%s %q: %v", kind, ref.Key, err), "")
			return ""
		}
		data = b
	}
	labels := maps.Clone(ref.Labels)
	if k8sKind == "Secret" {
		sec := &corev1.Secret{ObjectMeta: c.meta(name, "", labels), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{objectKey(ref): data}}
		sec.APIVersion, sec.Kind = "v1", "Secret"
		c.add("v1", "Secret", name, sec)
		return name
	}
	cm := &corev1.ConfigMap{ObjectMeta: c.meta(name, "", labels)}
	cm.APIVersion, cm.Kind = "v1", "ConfigMap"
	if utf8.Valid(data) {
		cm.Data = map[string]string{objectKey(ref): string(data)}
	} else {
		cm.BinaryData = map[string][]byte{objectKey(ref): data}
	}
	c.add("v1", "ConfigMap", name, cm)
	return name
}

// made reports whether an object of kind and name was made already.
func (c *converter) made(kind, name string) bool {
	return slices.ContainsFunc(c.objects, func(o Object) bool { return o.Kind == kind && o.Name == name })
}

// claimName is the PersistentVolumeClaim of an engine-level volume name.
func (c *converter) claimName(volume string) string { return dnsLabel(volume) }

// volumes makes a claim for each named volume the services use, sized by
// x-hoist-size; a volume that several pods use is ReadWriteMany, which
// the cluster's storage class must offer.
func (c *converter) volumes(svcs []service) {
	users := map[string][]service{}
	for _, s := range svcs {
		for _, m := range s.c.Mounts {
			if m.Type == runspec.MountVolume && m.Source != "" && !slices.ContainsFunc(users[m.Source], func(o service) bool { return o.Name == s.Name }) {
				users[m.Source] = append(users[m.Source], s)
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(c.p.Volumes)) {
		v := c.p.Volumes[key]
		us := users[v.Name]
		if len(us) == 0 {
			continue
		}
		where := "volumes." + key
		name := c.name("PersistentVolumeClaim", "", where, v.Name, false)
		if v.External {
			continue
		}
		size := DefaultVolumeSize
		if x, ok := v.Extensions[sizeKey]; ok {
			size = fmt.Sprint(x)
		}
		q, err := resource.ParseQuantity(size)
		if err != nil {
			c.problems = append(c.problems, Problem{Path: []string{"volumes", key, sizeKey}, Msg: fmt.Sprintf("volume %q: %s %q is not a size", key, sizeKey, size), Hint: "write it as 10Gi"})
			continue
		}
		if _, ok := v.Extensions[sizeKey]; !ok {
			c.problems = append(c.problems, Problem{Path: []string{"volumes", key}, Warning: true,
				Msg: fmt.Sprintf("volume %q has no %s: its claim asks for %s", key, sizeKey, DefaultVolumeSize), Hint: "set " + sizeKey + ": 10Gi (a quantity) on the volume"})
		}
		if v.Driver != "" || len(v.DriverOpts) > 0 {
			c.problems = append(c.problems, Problem{Path: []string{"volumes", key}, Warning: true,
				Msg: fmt.Sprintf("volume %q: driver and driver_opts are not carried: the cluster's default storage class backs the claim", key)})
		}
		mode := corev1.ReadWriteOnce
		if len(us) > 1 || us[0].c.Deploy.Replicas > 1 || us[0].c.Deploy.Mode == runspec.ModeGlobal {
			mode = corev1.ReadWriteMany
			c.problems = append(c.problems, Problem{Path: []string{"volumes", key}, Warning: true,
				Msg: fmt.Sprintf("volume %q is used by more than one pod: its claim is ReadWriteMany, which the storage class must offer", key)})
		}
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: c.meta(name, "", map[string]string(v.Labels)), Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{mode},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q}},
		}}
		pvc.APIVersion, pvc.Kind = "v1", "PersistentVolumeClaim"
		c.add("v1", "PersistentVolumeClaim", name, pvc)
	}
}
