package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	goruntime "runtime"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/google/go-containerregistry/pkg/authn"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type fakeKeychain map[string]authn.Authenticator

func (k fakeKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[r.RegistryStr()]; ok {
		return a, nil
	}
	return authn.Anonymous, nil
}

func decodeAuth(t *testing.T, s string) registry.AuthConfig {
	t.Helper()
	data, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	var cfg registry.AuthConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRegistryAuth(t *testing.T) {
	kc := fakeKeychain{
		"ghcr.io":         authn.FromConfig(authn.AuthConfig{Username: "u", Password: "p"}),
		"index.docker.io": authn.FromConfig(authn.AuthConfig{IdentityToken: "tok"}),
	}
	ctx := context.Background()
	s, err := registryAuthWith(ctx, kc, "ghcr.io/o/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeAuth(t, s); got != (registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "ghcr.io"}) {
		t.Errorf("ghcr auth = %+v", got)
	}
	s, err = registryAuthWith(ctx, kc, "redis")
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeAuth(t, s); got != (registry.AuthConfig{IdentityToken: "tok", ServerAddress: "https://index.docker.io/v1/"}) {
		t.Errorf("hub auth = %+v", got)
	}
	s, err = registryAuthWith(ctx, kc, "127.0.0.1:5000/x")
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeAuth(t, s); got != (registry.AuthConfig{}) {
		t.Errorf("anonymous auth = %+v, want empty", got)
	}
	if _, err := registryAuthWith(ctx, kc, "Bad Ref"); err == nil {
		t.Error("invalid reference accepted")
	}
}

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
