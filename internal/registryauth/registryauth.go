// Package registryauth says once how hoist finds a registry's
// credentials: from the user's docker config (~/.docker/config.json, or
// DOCKER_CONFIG's), its auths and its credential helpers (credsStore,
// credHelpers), as go-containerregistry's default keychain reads them.
// The docker engine sends them with its pulls and pushes, the swarm
// engine with its services, for the manager to hand to the nodes.
package registryauth

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/registry"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Auth is what the docker config holds for an image's registry.
type Auth struct {
	// Registry is the registry's host as docker login names it
	// ("ghcr.io", "127.0.0.1:5000", "docker.io").
	Registry string
	// Config is zero when the config holds nothing for the registry.
	Config registry.AuthConfig
}

// Anonymous reports whether the config holds no credentials for the
// registry.
func (a Auth) Anonymous() bool { return a.Config == (registry.AuthConfig{}) }

// Encoded is the X-Registry-Auth value: anonymous access encodes an
// empty config, as the docker CLI does.
func (a Auth) Encoded() (string, error) { return registry.EncodeAuthConfig(a.Config) }

// Encoded resolves ref's registry credentials with the default keychain
// and encodes them.
func Encoded(ctx context.Context, ref string) (string, error) {
	a, err := Resolve(ctx, authn.DefaultKeychain, ref)
	if err != nil {
		return "", err
	}
	return a.Encoded()
}

// Resolve finds the credentials kc holds for ref's registry (the
// default keychain is authn.DefaultKeychain).
func Resolve(ctx context.Context, kc authn.Keychain, ref string) (Auth, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return Auth{}, fmt.Errorf("parse reference: %w", err)
	}
	reg := parsed.Context().Registry
	out := Auth{Registry: loginName(reg.RegistryStr())}
	authenticator, err := authn.Resolve(ctx, kc, reg)
	if err != nil {
		return out, fmt.Errorf("resolve credentials for %s: %w", reg.RegistryStr(), err)
	}
	if authenticator == authn.Anonymous {
		return out, nil
	}
	a, err := authn.Authorization(ctx, authenticator)
	if err != nil {
		return out, fmt.Errorf("credentials for %s: %w", reg.RegistryStr(), err)
	}
	out.Config = registry.AuthConfig{
		Username:      a.Username,
		Password:      a.Password,
		Auth:          a.Auth,
		IdentityToken: a.IdentityToken,
		RegistryToken: a.RegistryToken,
		ServerAddress: serverAddress(reg.RegistryStr()),
	}
	return out, nil
}

// serverAddress is the key docker uses for a registry: Docker Hub's is
// the historic v1 index URL.
func serverAddress(reg string) string {
	if isHub(reg) {
		return "https://index.docker.io/v1/"
	}
	return reg
}

// loginName is the registry as a user types it after docker login (Docker
// Hub's is the default, but naming it is clearer).
func loginName(reg string) string {
	if isHub(reg) {
		return "docker.io"
	}
	return reg
}

func isHub(reg string) bool { return reg == name.DefaultRegistry || reg == "docker.io" }
