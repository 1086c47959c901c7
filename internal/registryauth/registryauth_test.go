package registryauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/registry"
	"github.com/google/go-containerregistry/pkg/authn"
)

type fakeKeychain map[string]authn.Authenticator

func (k fakeKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[r.RegistryStr()]; ok {
		return a, nil
	}
	return authn.Anonymous, nil
}

func decode(t *testing.T, s string) registry.AuthConfig {
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

func TestResolve(t *testing.T) {
	kc := fakeKeychain{
		"ghcr.io":         authn.FromConfig(authn.AuthConfig{Username: "u", Password: "p"}),
		"index.docker.io": authn.FromConfig(authn.AuthConfig{IdentityToken: "tok"}),
	}
	ctx := context.Background()
	for _, c := range []struct {
		ref, registry string
		want          registry.AuthConfig
	}{
		{"ghcr.io/o/app:1", "ghcr.io", registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "ghcr.io"}},
		{"ghcr.io/o/app:1@sha256:" + sixtyFour, "ghcr.io", registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "ghcr.io"}},
		{"redis", "docker.io", registry.AuthConfig{IdentityToken: "tok", ServerAddress: "https://index.docker.io/v1/"}},
		{"127.0.0.1:5000/x", "127.0.0.1:5000", registry.AuthConfig{}},
	} {
		a, err := Resolve(ctx, kc, c.ref)
		if err != nil {
			t.Fatalf("%s: %v", c.ref, err)
		}
		if a.Registry != c.registry || a.Config != c.want || a.Anonymous() != (c.want == registry.AuthConfig{}) {
			t.Errorf("%s: %+v (anonymous %v), want %s %+v", c.ref, a, a.Anonymous(), c.registry, c.want)
		}
		enc, err := a.Encoded()
		if err != nil {
			t.Fatal(err)
		}
		if got := decode(t, enc); got != c.want {
			t.Errorf("%s: encoded %+v, want %+v", c.ref, got, c.want)
		}
	}
	if _, err := Resolve(ctx, kc, "Bad Ref"); err == nil {
		t.Error("invalid reference accepted")
	}
}

const sixtyFour = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The default keychain reads DOCKER_CONFIG's config.json: a login there
// is what Encoded sends.
func TestEncodedReadsDockerConfig(t *testing.T) {
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	cfg := `{"auths": {"registry.example:5001": {"auth": "` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	enc, err := Encoded(context.Background(), "registry.example:5001/team/app:1")
	if err != nil {
		t.Fatal(err)
	}
	want := registry.AuthConfig{Username: "alice", Password: "s3cret", ServerAddress: "registry.example:5001"}
	if got := decode(t, enc); got != want {
		t.Errorf("encoded %+v, want %+v", got, want)
	}
	enc, err = Encoded(context.Background(), "other.example/app")
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, enc); got != (registry.AuthConfig{}) {
		t.Errorf("another registry: %+v, want anonymous", got)
	}
}
