package swarm

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/hoist-dev/hoist/internal/registryauth"
)

// registryAuth is the X-Registry-Auth value for ref: the credentials the
// user's docker config holds for its registry, as docker stack deploy
// --with-registry-auth sends them. The manager stores them with the
// service and hands them to the nodes that pull its image, which have no
// login of their own. It is "" when the config holds nothing for the
// registry: a service update then keeps the credentials the service was
// created with, and an inspect asks anonymously.
func (e *Engine) registryAuth(ctx context.Context, ref string) (registryauth.Auth, string, error) {
	kc := e.keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	a, err := registryauth.Resolve(ctx, kc, ref)
	if err != nil {
		return a, "", fmt.Errorf("image %s: %w", ref, err)
	}
	if a.Anonymous() {
		return a, "", nil
	}
	enc, err := a.Encoded()
	if err != nil {
		return a, "", fmt.Errorf("image %s: encode credentials: %w", ref, err)
	}
	return a, enc, nil
}

// isUnauthorized reports whether the manager's registry refused it
// access: a 401 the daemon passes on, or the registry's own words where
// the daemon gives them as text.
func isUnauthorized(err error) bool {
	if err == nil {
		return false
	}
	if cerrdefs.IsUnauthorized(err) || cerrdefs.IsPermissionDenied(err) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"unauthorized", "authentication required", "no basic auth credentials", "access to the resource is denied"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
