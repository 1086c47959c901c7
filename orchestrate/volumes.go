package orchestrate

import (
	"context"
	"fmt"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
)

// Volumes lists the project's volumes, as docker compose volumes does:
// all of them, or with services those the services mount (which needs
// the project's model, p).
func (o *Orchestrator) Volumes(ctx context.Context, name string, p *types.Project, services []string) ([]engine.Volume, error) {
	st, err := o.Backend.Observe(ctx, name, nil)
	if err != nil {
		return nil, err
	}
	if len(services) == 0 {
		return st.Volumes, nil
	}
	if p == nil {
		return nil, fmt.Errorf("volumes of services need the project's compose file")
	}
	used := map[string]bool{}
	for _, svc := range services {
		s, ok := p.Services[svc]
		if !ok {
			return nil, fmt.Errorf("no such service: %s", svc)
		}
		for _, m := range s.Volumes {
			if m.Type != types.VolumeTypeVolume || m.Source == "" {
				continue
			}
			if v, ok := p.Volumes[m.Source]; ok && v.Name != "" {
				used[v.Name] = true
			} else {
				used[m.Source] = true
			}
		}
	}
	return slices.DeleteFunc(st.Volumes, func(v engine.Volume) bool { return !used[v.Name] }), nil
}
