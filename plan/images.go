package plan

import (
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
)

// ImageOptions mirror `up --build/--no-build` and `--pull`.
type ImageOptions struct {
	Build   bool // rebuild every service with a build section
	NoBuild bool // never build; a missing image is then pulled
	Pull    string
}

// Images plans the pulls and builds that must happen before containers are
// planned: whether a container is recreated depends on the resulting image
// ID, which cannot be known before the build.
func Images(p *types.Project, observed *engine.State, o ImageOptions) *Plan {
	pl := newPlan()
	for _, name := range sortedServices(p) {
		s := p.Services[name]
		ref := compose.ImageRef(p, s)
		_, present := observed.ImageIDs[ref]
		policy := s.PullPolicy
		if o.Pull != "" {
			policy = o.Pull
		}
		switch {
		case s.Build != nil && !o.NoBuild && (o.Build || policy == types.PullPolicyBuild || !present):
			reason := "missing"
			if present {
				reason = "--build"
			}
			pl.add(&Op{Kind: Build, Target: ref, Service: name, Reason: reason})
		case policy == types.PullPolicyAlways:
			pl.add(&Op{Kind: Pull, Target: ref, Service: name, Reason: "pull_policy always"})
		case !present && policy != types.PullPolicyNever:
			pl.add(&Op{Kind: Pull, Target: ref, Service: name, Reason: "missing"})
		}
	}
	return pl
}
