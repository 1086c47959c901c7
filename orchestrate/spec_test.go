package orchestrate

import (
	"context"
	"testing"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
)

// composeSharingFake is the fake engine as docker compose would see it
// (engine.ComposeSharer).
type composeSharingFake struct{ *fakeBackend }

func (f composeSharingFake) DockerComposeImage(ctx context.Context, ref string) (string, error) {
	return f.ImageID(ctx, ref)
}

// On an engine docker compose manages too, a container carries docker
// compose's config hash (with its reference to another service's
// container resolved to that container's ID) and the image's ID as
// com.docker.compose.image; elsewhere hoist's own hash and the image's
// name.
func TestRecreateLabels(t *testing.T) {
	const yaml = `
services:
  db:
    image: redis
  web:
    image: web
    network_mode: service:db
`
	for _, shared := range []bool{false, true} {
		f := newFake()
		f.images["redis"], f.images["web"] = "sha256:redis-id", "sha256:web-id"
		var b engine.Backend = f
		if shared {
			b = composeSharingFake{f}
		}
		o := &Orchestrator{Backend: b}
		p := load(t, yaml)
		if _, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe}); err != nil {
			t.Fatal(err)
		}
		st, _ := f.Observe(context.Background(), "demo", nil)
		ids := map[string]string{}
		labels := map[string]map[string]string{}
		for _, c := range st.Containers {
			ids[c.Service], labels[c.Service] = c.ID, c.Labels
		}
		web := p.Services["web"]
		wantHash, _ := compose.ServiceHash(web)
		wantImage := "web"
		if shared {
			wantHash, _ = compose.DockerComposeHash(web, func(s string) (string, bool) { return ids[s], s == "db" })
			wantImage = "sha256:web-id"
		}
		if got := labels["web"][engine.LabelConfigHash]; got != wantHash {
			t.Errorf("shared=%v: web's config hash %s, want %s", shared, got, wantHash)
		}
		if got := labels["web"][engine.LabelImage]; got != wantImage {
			t.Errorf("shared=%v: web's image label %q, want %q", shared, got, wantImage)
		}
		// The second up finds both containers up to date.
		res, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Plan.Empty() {
			t.Errorf("shared=%v: second up planned:\n%s", shared, res.Plan)
		}
	}
}
