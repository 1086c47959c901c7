package compose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Render writes p as `docker compose config` does, in format "yaml" or
// "json": docker compose v5's key order and pre_start form (see
// dockercompose.go), the networks, volumes, secrets and configs no service
// uses left out (and so the sections they leave empty), and every `$`
// written `$$`, so that the output, loaded again, means what p means (a
// `$$` in the source, already unescaped in p, stays literal).
func Render(p *types.Project, format string) ([]byte, error) {
	// docker compose's model holds only what its services use.
	p = p.WithoutUnnecessaryResources()
	var out []byte
	var err error
	switch format {
	case "yaml", "":
		out, err = renderYAML(p)
	case "json":
		out, err = renderJSON(p)
	default:
		return nil, fmt.Errorf("--format %q: use yaml or json", format)
	}
	if err != nil {
		return nil, fmt.Errorf("render the model: %w", err)
	}
	return bytes.ReplaceAll(out, []byte("$"), []byte("$$")), nil
}

func renderYAML(p *types.Project) ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(p); err != nil {
		return nil, err
	}
	if services := mappingValue(&doc, "services"); services != nil {
		for i := 0; i+1 < len(services.Content); i += 2 {
			name, svc := services.Content[i].Value, services.Content[i+1]
			if err := dockerComposeServiceNode(svc, p.Services[name]); err != nil {
				return nil, err
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mappingValue is the value of key in mapping node n (or in the mapping
// a document node holds); nil when absent.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// dockerComposeServiceNode puts the keys of service mapping n in docker
// compose's order and its pre_start hooks in docker compose's form.
func dockerComposeServiceNode(n *yaml.Node, s types.ServiceConfig) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	pairs := map[string][2]*yaml.Node{}
	keys := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		pairs[k] = [2]*yaml.Node{n.Content[i], n.Content[i+1]}
		keys = append(keys, k)
	}
	if pair, ok := pairs["pre_start"]; ok {
		var hooks yaml.Node
		if err := hooks.Encode(shortPreStart(s)); err != nil {
			return err
		}
		pairs["pre_start"] = [2]*yaml.Node{pair[0], &hooks}
	}
	n.Content = n.Content[:0]
	for _, k := range orderServiceKeys(keys) {
		n.Content = append(n.Content, pairs[k][0], pairs[k][1])
	}
	return nil
}

// renderJSON is docker compose v5's JSON of the project: name, services
// (each in docker compose's form), the networks, volumes, secrets and
// configs that are not empty, and the extensions, indented by two. Its
// compose-go leaves models out of JSON; so does this.
func renderJSON(p *types.Project) ([]byte, error) {
	services := make(map[string]json.RawMessage, len(p.Services))
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		b, err := dockerComposeServiceJSON(p.Services[name])
		if err != nil {
			return nil, err
		}
		services[name] = b
	}
	m := map[string]any{"name": p.Name, "services": services}
	if len(p.Networks) > 0 {
		m["networks"] = p.Networks
	}
	if len(p.Volumes) > 0 {
		m["volumes"] = p.Volumes
	}
	if len(p.Secrets) > 0 {
		m["secrets"] = p.Secrets
	}
	if len(p.Configs) > 0 {
		m["configs"] = p.Configs
	}
	for k, v := range p.Extensions {
		m[k] = v
	}
	return json.MarshalIndent(m, "", "  ")
}
