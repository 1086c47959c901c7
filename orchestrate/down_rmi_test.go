package orchestrate

import (
	"context"
	"strings"
	"testing"
)

// down --rmi removes the services' images from the model, as docker
// compose does, not only those of containers still there: a down that
// was killed after removing the containers, then run again, still
// removes the image built for the project (local), and with all the
// pulled ones too; an image the engine lacks is no operation.
func TestDownRmiWithoutContainers(t *testing.T) {
	p := load(t, `
services:
  app:
    build:
      context: .
      dockerfile_inline: FROM scratch
  db:
    image: redis
  gone:
    build:
      context: .
      dockerfile_inline: FROM scratch
`)
	for _, c := range []struct{ mode, want string }{
		{"local", "remove image demo-app"},
		{"all", "remove image demo-app\nremove image redis"},
	} {
		f := newFake()
		f.images["demo-app"] = "sha256:1"
		f.images["redis"] = "sha256:2"
		o := &Orchestrator{Backend: f, Parallel: 1}
		pl, err := o.Down(context.Background(), "demo", p, DownOptions{Rmi: c.mode, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, op := range pl.Ops() {
			got = append(got, string(op.Kind)+" "+op.Target)
		}
		if strings.Join(got, "\n") != c.want {
			t.Errorf("--rmi %s: plan\n%s\nwant\n%s", c.mode, strings.Join(got, "\n"), c.want)
		}
	}
}
