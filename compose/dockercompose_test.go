package compose

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// Every key of hoist's compose-go service type has its place in docker
// compose's order: a compose-go upgrade that adds one fails here instead of
// silently changing the hash of every service that sets it.
func TestDockerComposeKeysCoverTheServiceType(t *testing.T) {
	var keys []string
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for f := range rt.Fields() {
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			keys = append(keys, name)
		}
	}
	walk(reflect.TypeFor[types.ServiceConfig]())
	if len(keys) < 90 {
		t.Fatalf("only %d keys found", len(keys))
	}
	for _, k := range keys {
		if !slices.Contains(dockerComposeServiceKeys, k) {
			t.Errorf("key %q of types.ServiceConfig has no place in dockerComposeServiceKeys", k)
		}
	}
}

// A reference to another service's container is hashed as the container
// it resolves to, as docker compose resolves it when it creates the
// container: volumes_from loses its mode, container: loses its prefix and
// mode, and resolution stops at the first service with no container.
func TestDockerComposeHashResolvesReferences(t *testing.T) {
	svc := func(f func(s *types.ServiceConfig)) types.ServiceConfig {
		s := types.ServiceConfig{Name: "app"}
		s.Image = "busybox"
		f(&s)
		return s
	}
	ids := map[string]string{"db": "db-id", "cache": "cache-id"}
	of := func(name string) (string, bool) { id, ok := ids[name]; return id, ok }
	hash := func(s types.ServiceConfig, of ContainerOf) string {
		t.Helper()
		h, err := DockerComposeHash(s, of)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, c := range []struct {
		name          string
		written, same func(s *types.ServiceConfig)
	}{
		{"network_mode", func(s *types.ServiceConfig) { s.NetworkMode = "service:db" }, func(s *types.ServiceConfig) { s.NetworkMode = "container:db-id" }},
		{"ipc and pid", func(s *types.ServiceConfig) { s.Ipc, s.Pid = "service:db", "service:cache" }, func(s *types.ServiceConfig) { s.Ipc, s.Pid = "container:db-id", "container:cache-id" }},
		{"volumes_from", func(s *types.ServiceConfig) { s.VolumesFrom = []string{"db:ro", "container:other:rw", "cache"} },
			func(s *types.ServiceConfig) { s.VolumesFrom = []string{"db-id", "other", "cache-id"} }},
		{"stops at a missing container", func(s *types.ServiceConfig) {
			s.VolumesFrom = []string{"db", "gone", "cache"}
			s.NetworkMode = "service:db"
		}, func(s *types.ServiceConfig) {
			s.VolumesFrom = []string{"db-id", "gone", "cache"}
			s.NetworkMode = "service:db"
		}},
	} {
		written, same := svc(c.written), svc(c.same)
		if got, want := hash(written, of), hash(same, nil); got != want {
			t.Errorf("%s: hash with references resolved differs from the service written with its containers", c.name)
		}
		if hash(written, of) == hash(written, nil) && c.name != "stops at a missing container" {
			t.Errorf("%s: references were not resolved", c.name)
		}
		if !slices.Equal(written.VolumesFrom, svc(c.written).VolumesFrom) {
			t.Errorf("%s: the caller's volumes_from was changed: %v", c.name, written.VolumesFrom)
		}
	}
}
