package orchestrate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/plan"
)

func sortStrings(s []string) { sort.Strings(s) }

// containerSpec resolves a service into what an engine needs: project-level
// names for volumes and networks, and the labels docker compose uses. A
// one-off container (run) gets no config hash: nothing compares it, and
// hashing a service costs a first JSON encoding of its whole type (3 ms of
// a 60 ms "run --rm").
func containerSpec(p *types.Project, s types.ServiceConfig, n int, name string, oneOff bool) (engine.ContainerSpec, error) {
	var hash string
	if !oneOff {
		var err error
		if hash, err = compose.ServiceHash(s); err != nil {
			return engine.ContainerSpec{}, err
		}
	}
	svc := s
	svc.Volumes = make([]types.ServiceVolumeConfig, len(s.Volumes))
	for i, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			vol, ok := p.Volumes[v.Source]
			if !ok {
				return engine.ContainerSpec{}, fmt.Errorf("service %q uses undeclared volume %q", s.Name, v.Source)
			}
			v.Source = vol.Name
		}
		svc.Volumes[i] = v
	}
	if src, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
		dep, ok := p.Services[src]
		if !ok {
			return engine.ContainerSpec{}, fmt.Errorf("service %q: network_mode names unknown service %q", s.Name, src)
		}
		svc.NetworkMode = "container:" + plan.ContainerName(p.Name, dep, 1)
	}
	ref := compose.ImageRef(p, s)
	svc.Image = ref
	labels := map[string]string{
		engine.LabelProject:     p.Name,
		engine.LabelService:     s.Name,
		engine.LabelNumber:      strconv.Itoa(n),
		engine.LabelOneOff:      "False",
		engine.LabelWorkingDir:  p.WorkingDir,
		engine.LabelConfigFiles: strings.Join(p.ComposeFiles, ","),
		engine.LabelImage:       ref,
		engine.LabelDependsOn:   dependsOnLabel(s),
		engine.LabelVersion:     composeVersion,
		engine.LabelEngine:      "hoist",
	}
	if oneOff {
		labels[engine.LabelOneOff] = "True"
	} else {
		labels[engine.LabelConfigHash] = hash
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	spec := engine.ContainerSpec{
		Project:    p.Name,
		ProjectDir: p.WorkingDir,
		Name:       name,
		Number:     n,
		Image:      ref,
		Service:    svc,
		Labels:     labels,
		Networks:   attachments(p, s),
	}
	mounts, files, err := secretsAndConfigs(p, s)
	if err != nil {
		return engine.ContainerSpec{}, err
	}
	spec.Service.Volumes = append(spec.Service.Volumes, mounts...)
	spec.Files = files
	return spec, nil
}

// attachments lists networks by descending priority, then name, so the
// engine attaches the most important one first (docker connects one network
// at create time).
func attachments(p *types.Project, s types.ServiceConfig) []engine.NetworkAttachment {
	if s.NetworkMode != "" && s.NetworkMode != "bridge" {
		return nil
	}
	keys := make([]string, 0, len(s.Networks))
	for k := range s.Networks {
		keys = append(keys, k)
	}
	prio := func(k string) int {
		if c := s.Networks[k]; c != nil {
			return c.Priority
		}
		return 0
	}
	sort.Slice(keys, func(i, j int) bool {
		if prio(keys[i]) != prio(keys[j]) {
			return prio(keys[i]) > prio(keys[j])
		}
		return keys[i] < keys[j]
	})
	var out []engine.NetworkAttachment
	for _, k := range keys {
		net, ok := p.Networks[k]
		if !ok {
			continue
		}
		a := engine.NetworkAttachment{Name: net.Name, Aliases: []string{s.Name}}
		if c := s.Networks[k]; c != nil {
			a.Aliases = append(a.Aliases, c.Aliases...)
			a.IPv4, a.IPv6 = c.Ipv4Address, c.Ipv6Address
		}
		if s.Hostname != "" && s.Hostname != s.Name {
			a.Aliases = append(a.Aliases, s.Hostname)
		}
		out = append(out, a)
	}
	return out
}
