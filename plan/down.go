package plan

import (
	"sort"
	"strings"

	"github.com/hoist-dev/hoist/engine"
)

// DownOptions mirror `down`'s flags.
type DownOptions struct {
	// Services limits removal to these services' containers (nil: all).
	Services map[string]bool
	Volumes  bool     // -v: remove the project's named volumes and the containers' anonymous ones
	Images   []string // --rmi: image references to remove
	// StopOnly plans `stop`: the same order, nothing removed.
	StopOnly bool
}

// Down plans the removal of the project from the observed state alone, so it
// works without the compose file. Containers stop in reverse dependency
// order, read from the depends_on label each container carries.
func Down(observed *engine.State, o DownOptions) *Plan {
	pl := newPlan()
	var cs []engine.Container
	for _, c := range observed.Containers {
		if o.Services == nil || o.Services[c.Service] {
			cs = append(cs, c)
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	stopOf := map[string][]string{} // service -> stop op IDs
	var removes []string
	for _, c := range cs {
		var stopID string
		if c.Active() {
			stopID = pl.add(&Op{Kind: Stop, Target: c.Name, Service: c.Service, Number: c.Number, ContainerID: c.ID}).ID()
			stopOf[c.Service] = append(stopOf[c.Service], stopID)
		}
		if o.StopOnly {
			continue
		}
		rm := pl.add(&Op{Kind: Remove, Target: c.Name, Service: c.Service, Number: c.Number, ContainerID: c.ID, RemoveVolumes: o.Volumes})
		pl.dep(rm, stopID)
		removes = append(removes, rm.ID())
	}
	// A container stops only after everything that depends on it stopped.
	for _, c := range cs {
		stop := pl.get(opID(Stop, c.Name))
		if stop == nil {
			continue
		}
		for _, other := range cs {
			if other.Service == c.Service {
				continue
			}
			if dependsOn(other, c.Service) {
				pl.dep(stop, stopOf[other.Service]...)
			}
		}
	}
	if o.StopOnly {
		return pl
	}
	if o.Services == nil {
		for _, n := range observed.Networks {
			op := pl.add(&Op{Kind: RemoveNetwork, Target: n.Name})
			pl.dep(op, removes...)
		}
		if o.Volumes {
			for _, v := range observed.Volumes {
				op := pl.add(&Op{Kind: RemoveVolume, Target: v.Name})
				pl.dep(op, removes...)
			}
		}
	}
	for _, ref := range o.Images {
		op := pl.add(&Op{Kind: RemoveImage, Target: ref})
		pl.dep(op, removes...)
	}
	return pl
}

// dependsOn reads docker compose's depends_on label: "db:service_healthy:false,cache:service_started:true".
func dependsOn(c engine.Container, service string) bool {
	for _, entry := range strings.Split(c.Labels[engine.LabelDependsOn], ",") {
		if name, _, _ := strings.Cut(entry, ":"); name == service {
			return true
		}
	}
	return false
}
