package docker

import (
	"context"
	"fmt"
	"sort"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/hoist-dev/hoist/engine"
)

// Projects groups every compose-labelled container by project, as
// `docker compose ls -a` does.
func (b *Backend) Projects(ctx context.Context) ([]engine.ProjectSummary, error) {
	list, err := b.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", engine.LabelProject))})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", mapErr(err))
	}
	byName := map[string]*engine.ProjectSummary{}
	for _, c := range list {
		name := c.Labels[engine.LabelProject]
		p, ok := byName[name]
		if !ok {
			p = &engine.ProjectSummary{Name: name, ConfigFiles: c.Labels[engine.LabelConfigFiles]}
			byName[name] = p
		}
		p.Total++
		if c.State == engine.StateRunning {
			p.Running++
		}
	}
	out := make([]engine.ProjectSummary, 0, len(byName))
	for _, p := range byName {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
