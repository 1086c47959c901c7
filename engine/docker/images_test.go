package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
