package docker

import (
	"context"
	goruntime "runtime"
	"testing"

	"github.com/docker/docker/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// docker compose's com.docker.compose.image: the image's ID before API
// 1.48; after, the available image manifest for this platform, else the
// only available one, else the ID.
func TestDockerComposeImage(t *testing.T) {
	manifest := func(id, kind string, available bool, os, arch string) image.ManifestSummary {
		m := image.ManifestSummary{ID: id, Kind: image.ManifestKind(kind), Available: available}
		if os != "" {
			m.ImageData = &image.ImageProperties{Platform: ocispec.Platform{OS: os, Architecture: arch}}
		}
		return m
	}
	here, other := goruntime.GOARCH, "s390x"
	if here == other {
		other = "ppc64le"
	}
	index := []image.ManifestSummary{
		manifest("sha256:other", "image", true, "linux", other),
		manifest("sha256:att", "attestation", true, "", ""),
		manifest("sha256:here", "image", true, "linux", here),
	}
	for _, c := range []struct {
		version   string
		manifests []image.ManifestSummary
		want      string
	}{
		{"1.41", index, "sha256:index"},
		{"1.48", index, "sha256:here"},
		{"1.48", []image.ManifestSummary{manifest("sha256:other", "image", true, "linux", other), manifest("sha256:here", "image", false, "linux", here)}, "sha256:other"},
		{"1.48", []image.ManifestSummary{manifest("sha256:a", "image", true, "linux", other), manifest("sha256:b", "image", true, "windows", other)}, "sha256:index"},
		{"1.48", nil, "sha256:index"},
	} {
		f := &fakeAPI{version: c.version, inspect: map[string]image.InspectResponse{"app": {ID: "sha256:index", Manifests: c.manifests}}}
		got, err := (&Backend{api: f}).DockerComposeImage(context.Background(), "app")
		if err != nil || got != c.want {
			t.Errorf("API %s, %d manifests: %q, %v; want %q", c.version, len(c.manifests), got, err, c.want)
		}
	}
}
