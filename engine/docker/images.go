package docker

import (
	"context"
	"encoding/json"
	"fmt"
	goruntime "runtime"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"

	"github.com/hoist-dev/hoist/internal/registryauth"
)

// ImageID returns the local ID of ref.
func (b *Backend) ImageID(ctx context.Context, ref string) (string, error) {
	img, err := b.api.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspect image %q: %w", ref, mapErr(err))
	}
	return img.ID, nil
}

// Pull fetches ref, with credentials from the docker config when it has
// some for the registry. Errors the daemon reports inside the progress
// stream are returned, not only HTTP errors.
func (b *Backend) Pull(ctx context.Context, ref string, progress func(msg string)) error {
	auth, err := registryauth.Encoded(ctx, ref)
	if err != nil {
		return fmt.Errorf("pull %q: %w", ref, err)
	}
	rc, err := b.api.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull %q: %w", ref, mapErr(err))
	}
	defer rc.Close()
	if err := readMessages(rc, progress, nil); err != nil {
		return fmt.Errorf("pull %q: %w", ref, err)
	}
	return nil
}

// Push sends ref to its registry, authenticated like Pull.
func (b *Backend) Push(ctx context.Context, ref string, progress func(msg string)) error {
	_, err := b.PushDigest(ctx, ref, progress)
	return err
}

// PushDigest is Push, and returns the manifest digest the registry
// stored ("sha256:..."), so that the pushed image can be named by it
// (repo@digest) and every machine runs the same bytes.
func (b *Backend) PushDigest(ctx context.Context, ref string, progress func(msg string)) (string, error) {
	auth, err := registryauth.Encoded(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("push %q: %w", ref, err)
	}
	rc, err := b.api.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("push %q: %w", ref, mapErr(err))
	}
	defer rc.Close()
	var digest string
	aux := func(raw json.RawMessage) {
		var r struct{ Digest string }
		if json.Unmarshal(raw, &r) == nil && r.Digest != "" {
			digest = r.Digest
		}
	}
	if err := readMessages(rc, progress, aux); err != nil {
		return "", fmt.Errorf("push %q: %w", ref, err)
	}
	if digest == "" {
		return "", fmt.Errorf("push %q: the daemon reported no digest", ref)
	}
	return digest, nil
}

// RemoveImage removes (untags) ref.
func (b *Backend) RemoveImage(ctx context.Context, ref string, force bool) error {
	if _, err := b.api.ImageRemove(ctx, ref, image.RemoveOptions{Force: force, PruneChildren: true}); err != nil {
		return fmt.Errorf("remove image %q: %w", ref, mapErr(err))
	}
	return nil
}

// DockerComposeImage is what docker compose v5 records as
// com.docker.compose.image for ref, so that it finds hoist's containers up
// to date (engine.ComposeSharer): the image's ID, or, on an Engine that
// lists an image's manifests (API 1.48 and later, with the containerd
// image store), the digest of the available image manifest for this
// host's platform, else of the only one available. An image index's own
// ID changes with every rebuild's attestations; a manifest's does not.
func (b *Backend) DockerComposeImage(ctx context.Context, ref string) (string, error) {
	if versions.LessThan(b.api.ClientVersion(), "1.48") {
		return b.ImageID(ctx, ref)
	}
	img, err := b.api.ImageInspect(ctx, ref, client.ImageInspectWithManifests(true))
	if err != nil {
		return "", fmt.Errorf("inspect image %q: %w", ref, mapErr(err))
	}
	var available []image.ManifestSummary
	for _, m := range img.Manifests {
		if m.Kind == image.ManifestKindImage && m.Available {
			available = append(available, m)
		}
	}
	for _, m := range available {
		if p := m.ImageData; p != nil && p.Platform.OS == goruntime.GOOS && p.Platform.Architecture == goruntime.GOARCH {
			return m.ID, nil
		}
	}
	if len(available) == 1 {
		return available[0].ID, nil
	}
	return img.ID, nil
}
