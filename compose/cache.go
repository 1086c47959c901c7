package compose

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"go.yaml.in/yaml/v4"
)

// validationCacheVersion changes when what hoist validates changes.
const validationCacheVersion = "v1"

// validationKey identifies the exact inputs of a load: the files' bytes, the
// resolved environment (which includes .env) and the options. Compiling and
// running compose-go's JSON schema costs ~300 ms cold, most of a no-op `up`;
// inputs that validated once need not be validated again. Files that pull in
// other files (include, extends with file) are never cached, since those
// other files are not part of the key.
func validationKey(o Options, popts *cli.ProjectOptions, docs sourceDocs) (string, bool) {
	h := sha256.New()
	write := func(parts ...string) {
		for _, p := range parts {
			h.Write([]byte(p))
			h.Write([]byte{0})
		}
	}
	write("hoist-validated", validationCacheVersion, o.Name, o.ProjectDir, strings.Join(o.Profiles, ","))
	for _, d := range docs {
		if pullsInFiles(d.data) {
			return "", false
		}
		write(d.path, string(d.data))
	}
	if len(docs) != len(popts.ConfigPaths) {
		return "", false // stdin
	}
	env := make([]string, 0, len(popts.Environment))
	for k, v := range popts.Environment {
		if k == "_" { // the shell's last command: noise
			continue
		}
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	write(env...)
	return hex.EncodeToString(h.Sum(nil)), true
}

// pullsInFiles reports whether a compose file may pull in other files:
// include, or extends with a file, in any of its YAML documents (compose-go
// merges them all), through anchors, aliases and merge keys too. What it
// cannot parse counts as pulling in.
func pullsInFiles(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil || len(doc.Content) == 0 {
			return err != nil
		}
		root := doc.Content[0]
		if mapValue(root, "include") != nil {
			return true
		}
		services := mapValue(root, "services")
		if services == nil || services.Kind != yaml.MappingNode {
			continue
		}
		for _, svc := range entries(services, 0) {
			if ext := mapValue(svc[1], "extends"); ext != nil && mapValue(ext, "file") != nil {
				return true
			}
		}
	}
}

// maxYAMLDepth bounds the alias and merge chains followed.
const maxYAMLDepth = 32

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxYAMLDepth; i++ {
		n = n.Alias
	}
	return n
}

// entries are the key/value pairs of the mapping n, through aliases, its
// merge keys' ("<<": a mapping or a list of them) after its own, as YAML's
// merge gives a mapping's own keys precedence.
func entries(n *yaml.Node, depth int) [][2]*yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode || depth > maxYAMLDepth {
		return nil
	}
	var own, merged [][2]*yaml.Node
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		if k.Value != "<<" && k.Tag != "!!merge" {
			own = append(own, [2]*yaml.Node{k, deref(v)})
			continue
		}
		v = deref(v)
		srcs := []*yaml.Node{v}
		if v != nil && v.Kind == yaml.SequenceNode {
			srcs = v.Content
		}
		for _, src := range srcs {
			merged = append(merged, entries(src, depth+1)...)
		}
	}
	return append(own, merged...)
}

// mapValue is key's value in the mapping n (see entries), nil when none.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for _, e := range entries(n, 0) {
		if e[0].Value == key {
			return e[1]
		}
	}
	return nil
}

func cacheMarker(dir, key string) string { return filepath.Join(dir, "validated", key) }

func cachedValid(dir, key string) bool {
	if dir == "" || key == "" {
		return false
	}
	_, err := os.Stat(cacheMarker(dir, key))
	return err == nil
}

// rememberValid is best effort: a read-only cache only costs speed.
func rememberValid(dir, key string) {
	if dir == "" || key == "" {
		return
	}
	m := cacheMarker(dir, key)
	if err := os.MkdirAll(filepath.Dir(m), 0o755); err != nil {
		return
	}
	_ = os.WriteFile(m, nil, 0o644)
}
