package orchestrate

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
)

func sortStrings(s []string) { sort.Strings(s) }

// containerSpec is what an engine needs to create replica n of s: its
// configuration resolved from the service (compose.Resolve), and compose's
// own labels over the service's, which they win against, as with docker
// compose. The config hash is the caller's to add (labelForRecreate): a
// one-off container (run) gets none, since nothing compares it, and
// hashing a service costs a first JSON encoding of its whole type (3 ms of
// a 60 ms "run --rm").
func containerSpec(p *types.Project, s types.ServiceConfig, n int, name string, oneOff bool) (engine.ContainerSpec, error) {
	c, err := compose.Resolve(p, s, oneOff)
	if err != nil {
		return engine.ContainerSpec{}, err
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		engine.LabelProject:     p.Name,
		engine.LabelService:     s.Name,
		engine.LabelNumber:      strconv.Itoa(n),
		engine.LabelOneOff:      "False",
		engine.LabelWorkingDir:  p.WorkingDir,
		engine.LabelConfigFiles: strings.Join(p.ComposeFiles, ","),
		engine.LabelImage:       c.Image,
		engine.LabelDependsOn:   dependsOnLabel(s),
		engine.LabelVersion:     composeVersion,
		engine.LabelEngine:      "hoist",
	} {
		c.Labels[k] = v
	}
	if oneOff {
		c.Labels[engine.LabelOneOff] = "True"
	}
	return engine.ContainerSpec{Project: p.Name, ProjectDir: p.WorkingDir, Service: s.Name, Name: name, Number: n, OneOff: oneOff, Config: c}, nil
}

// hasher is the config hash the engine's containers carry: docker
// compose's where docker compose sees them (engine.ComposeSharer), so that
// neither tool recreates the other's, and hoist's own versioned one
// elsewhere.
func (o *Orchestrator) hasher() compose.Hasher {
	if _, ok := o.Backend.(engine.ComposeSharer); ok {
		return compose.DockerComposeHash
	}
	return compose.HoistHasher
}

// labelForRecreate adds to spec what up compares to decide whether to
// recreate the container: the config hash and, where docker compose
// compares it, its identity of the image as com.docker.compose.image
// (docker compose recreates a container whose label differs).
func (o *Orchestrator) labelForRecreate(ctx context.Context, p *types.Project, s types.ServiceConfig, spec *engine.ContainerSpec, st *runState) error {
	hash, err := o.hasher()(s, st.containerOf)
	if err != nil {
		return err
	}
	spec.Config.Labels[engine.LabelConfigHash] = hash
	if cs, ok := o.Backend.(engine.ComposeSharer); ok {
		id, err := cs.DockerComposeImage(ctx, compose.ImageRef(p, s))
		switch {
		case err == nil:
			spec.Config.Labels[engine.LabelImage] = id
		case !errors.Is(err, engine.ErrNotFound):
			return err
		}
	}
	return nil
}
