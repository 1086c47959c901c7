package swarm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/swarm"
	"github.com/google/go-containerregistry/pkg/authn"
)

// authAPI records the X-Registry-Auth of each request that carries one;
// the rest of swarmAPI is left nil (a call to it panics the test).
type authAPI struct {
	swarmAPI
	services []swarm.Service
	sent     []string // "create <auth>", "update <auth>", "inspect <auth>"
	inspect  error
}

func (f *authAPI) ConfigList(context.Context, swarm.ConfigListOptions) ([]swarm.Config, error) {
	return nil, nil
}

func (f *authAPI) SecretList(context.Context, swarm.SecretListOptions) ([]swarm.Secret, error) {
	return nil, nil
}

func (f *authAPI) ServiceList(context.Context, swarm.ServiceListOptions) ([]swarm.Service, error) {
	return f.services, nil
}

func (f *authAPI) ServiceCreate(_ context.Context, spec swarm.ServiceSpec, o swarm.ServiceCreateOptions) (swarm.ServiceCreateResponse, error) {
	f.sent = append(f.sent, "create "+decoded(o.EncodedRegistryAuth))
	f.services = append(f.services, swarm.Service{ID: "s1", Spec: spec})
	return swarm.ServiceCreateResponse{ID: "s1"}, nil
}

func (f *authAPI) ServiceUpdate(_ context.Context, _ string, _ swarm.Version, spec swarm.ServiceSpec, o swarm.ServiceUpdateOptions) (swarm.ServiceUpdateResponse, error) {
	f.sent = append(f.sent, "update "+decoded(o.EncodedRegistryAuth))
	f.services[0].Spec = spec
	return swarm.ServiceUpdateResponse{}, nil
}

func (f *authAPI) DistributionInspect(_ context.Context, _ string, auth string) (registry.DistributionInspect, error) {
	f.sent = append(f.sent, "inspect "+decoded(auth))
	return registry.DistributionInspect{}, f.inspect
}

// decoded is the user an X-Registry-Auth names, "-" for none sent.
func decoded(s string) string {
	if s == "" {
		return "-"
	}
	data, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		return "bad base64"
	}
	var c registry.AuthConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return "bad json"
	}
	return c.Username + "@" + c.ServerAddress
}

type oneRegistry struct{ host, user string }

func (k oneRegistry) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == k.host {
		return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: "pw"}), nil
	}
	return authn.Anonymous, nil
}

// The docker config's credentials for the image's registry go with the
// create, the update and a restart, as docker stack deploy
// --with-registry-auth sends them; an image of a registry the config
// knows nothing of sends none, so that an update keeps those the
// service has. An unchanged service sends nothing at all.
func TestServicesCarryCredentials(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		image string
		want  string
	}{
		{"reg.example:5001/team/web:1", "alice@reg.example:5001"},
		{"other.example/web:1", "-"},
	} {
		f := &authAPI{}
		e := &Engine{api: f, keychain: oneRegistry{"reg.example:5001", "alice"}, apiVersion: "1.41"}
		s := resolveYAML(t, "services:\n  web:\n    image: "+c.image+"\n")["web"]
		if _, err := e.Apply(ctx, s); err != nil {
			t.Fatal(err)
		}
		f.services[0].Spec.Labels[LabelSpecHash] = "older"
		for range 2 {
			if _, err := e.Apply(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Restart(ctx, "p", "web"); err != nil {
			t.Fatal(err)
		}
		want := []string{"create " + c.want, "update " + c.want, "update " + c.want}
		if strings.Join(f.sent, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s: sent %q, want %q", c.image, f.sent, want)
		}
	}
}

// A registry that refuses the manager is an error before anything is
// made, naming the image and the login to run; with credentials that it
// refuses, the hint says to log in again. Other failures to resolve an
// image that is not built stay a warning (it may be loaded on the nodes).
func TestPreflightRefusedImage(t *testing.T) {
	ctx := context.Background()
	unauthorized := cerrdefs.ErrUnauthenticated.WithMessage("unauthorized: authentication required")
	for _, c := range []struct {
		name, image string
		err         error
		sent        string
		warning     bool
		msg, hint   string
	}{
		{"anonymous", "reg.example:5002/web:1", unauthorized, "inspect -", false,
			"the registry reg.example:5002 refuses reg.example:5002/web:1 without a login", "run docker login reg.example:5002"},
		{"anonymous, in words", "reg.example:5002/web:1", errors.New("Error response from daemon: errors:\ndenied: requested access to the resource is denied"), "inspect -", false,
			"refuses reg.example:5002/web:1 without a login", "run docker login reg.example:5002"},
		{"refused credentials", "reg.example:5001/web:1", unauthorized, "inspect alice@reg.example:5001", false,
			"the registry reg.example:5001 refuses the docker config's credentials for reg.example:5001/web:1", "run docker login reg.example:5001 again"},
		{"unreachable", "reg.example:5001/web:1", errors.New("dial tcp: connection refused"), "inspect alice@reg.example:5001", true,
			"the manager cannot resolve reg.example:5001/web:1", "push it"},
		{"reachable", "reg.example:5001/web:1", nil, "inspect alice@reg.example:5001", false, "", ""},
	} {
		f := &authAPI{inspect: c.err}
		e := &Engine{api: f, keychain: oneRegistry{"reg.example:5001", "alice"}}
		s := resolveYAML(t, "services:\n  web:\n    image: "+c.image+"\n")["web"]
		got := e.imageProblems(ctx, s)
		if strings.Join(f.sent, ", ") != c.sent {
			t.Errorf("%s: sent %q, want %q", c.name, f.sent, c.sent)
		}
		if c.msg == "" {
			if len(got) != 0 {
				t.Errorf("%s: %v, want no problem", c.name, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Warning != c.warning || !strings.Contains(got[0].Msg, c.msg) || !strings.Contains(got[0].Hint, c.hint) ||
			strings.Join(got[0].Path, ".") != "image" || got[0].Service != "web" {
			t.Errorf("%s: %+v, want one problem at web.image (warning %v) saying %q; %q", c.name, got, c.warning, c.msg, c.hint)
		}
	}
}
