package orchestrate

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoist-dev/hoist/compose"
)

// BuildPushPinned builds the images of services (or all) that have a
// build section and an image:, pushes each to the registry its image:
// names, and returns them by service, pinned by the digest that registry
// now serves (REPO:TAG@sha256:...): what a cluster's nodes pull is then
// the bytes just built (hoist convert kubernetes --push).
func (o *Orchestrator) BuildPushPinned(ctx context.Context, p *types.Project, services []string) (map[string]string, error) {
	p, err := selectServices(p, services, true)
	if err != nil {
		return nil, err
	}
	var built []string
	for _, n := range p.ServiceNames() {
		if s := p.Services[n]; s.Build != nil && s.Image != "" {
			built = append(built, n)
		}
	}
	if len(built) == 0 {
		return nil, nil
	}
	if err := o.Build(ctx, p, built, BuildOptions{}); err != nil {
		return nil, err
	}
	if err := o.Push(ctx, p, built); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range built {
		ref := compose.ImageRef(p, p.Services[n])
		tag, err := name.NewTag(ref)
		if err != nil {
			return nil, fmt.Errorf("service %q: image %q: %w", n, ref, err)
		}
		desc, err := remote.Head(tag, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
		if err != nil {
			return nil, fmt.Errorf("service %q: the digest of %s: %w", n, ref, err)
		}
		out[n] = ref + "@" + desc.Digest.String()
	}
	return out, nil
}
