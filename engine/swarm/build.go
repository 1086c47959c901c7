package swarm

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/hoist-dev/hoist/engine/docker"
)

// BuildAndPush builds the image of a service with build: on the
// manager's daemon (the docker engine's builder), pushes it to the
// registry its image: names, and returns that reference pinned by the
// digest the registry stored (repo:tag@sha256:...). Deployed by digest,
// every node runs the same bytes, and a rebuild that changed nothing
// changes no spec. A service whose image: names no registry is refused
// before anything is built.
func (e *Engine) BuildAndPush(ctx context.Context, s Service, progress func(string)) (string, error) {
	if s.Build == nil {
		return "", fmt.Errorf("service %s has no build section", s.Name)
	}
	ref := s.Config.Image
	if why := unpushable(ref); why != "" {
		return "", fmt.Errorf("service %s has build: and %s: set image: to REGISTRY/NAME[:TAG]", s.Name, why)
	}
	if e.cli == nil {
		return "", errors.New("build: no daemon client")
	}
	// The manager's daemon builds and pushes; its client is shared, so
	// the builder's backend is not closed here.
	b := docker.FromClient(e.cli)
	spec := *s.Build
	spec.Tag = ref
	if _, err := b.Build(ctx, spec, progress); err != nil {
		return "", err
	}
	dg, err := b.PushDigest(ctx, ref, progress)
	if err != nil {
		return "", err
	}
	return pin(ref, dg)
}

// pin names ref's image by digest, keeping its tag for the reader.
func pin(ref, dg string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	d, err := digest.Parse(dg)
	if err != nil {
		return "", fmt.Errorf("digest %q of %s: %w", dg, ref, err)
	}
	named = reference.TagNameOnly(named)
	canon, err := reference.WithDigest(named, d)
	if err != nil {
		return "", err
	}
	return reference.FamiliarString(canon), nil
}
