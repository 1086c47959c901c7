package native

import (
	"context"
	"sort"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// Projects groups the recorded containers by project, for `hoist ls`.
func (b *Backend) Projects(ctx context.Context) ([]engine.ProjectSummary, error) {
	recs, err := b.allRecords()
	if err != nil {
		return nil, err
	}
	byName := map[string]*engine.ProjectSummary{}
	for _, r := range recs {
		p, ok := byName[r.Project]
		if !ok {
			p = &engine.ProjectSummary{Name: r.Project, ConfigFiles: r.Labels[engine.LabelConfigFiles]}
			byName[r.Project] = p
		}
		p.Total++
		if st, started, err := b.status(r); err == nil && started && st.Status == runtime.StatusRunning {
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
