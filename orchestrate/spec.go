package orchestrate

import (
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
// compose. A one-off container (run) gets no config hash: nothing compares
// it, and hashing a service costs a first JSON encoding of its whole type
// (3 ms of a 60 ms "run --rm").
func containerSpec(p *types.Project, s types.ServiceConfig, n int, name string, oneOff bool) (engine.ContainerSpec, error) {
	var hash string
	if !oneOff {
		var err error
		if hash, err = compose.ServiceHash(s); err != nil {
			return engine.ContainerSpec{}, err
		}
	}
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
	} else {
		c.Labels[engine.LabelConfigHash] = hash
	}
	return engine.ContainerSpec{Project: p.Name, ProjectDir: p.WorkingDir, Service: s.Name, Name: name, Number: n, OneOff: oneOff, Config: c}, nil
}
