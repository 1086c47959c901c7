package compose

import (
	"crypto/sha256"
	"encoding/hex"
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
		if pullsInFiles(d.root) {
			return "", false
		}
		data, err := os.ReadFile(d.path)
		if err != nil {
			return "", false
		}
		write(d.path, string(data))
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

func pullsInFiles(root *yaml.Node) bool {
	if n, depth := walk(root, []string{"include"}); n != nil && depth == 1 {
		return true
	}
	services, depth := walk(root, []string{"services"})
	if services == nil || depth != 1 || services.Kind != yaml.MappingNode {
		return false
	}
	for j := 1; j < len(services.Content); j += 2 {
		if ext, d := walk(services.Content[j], []string{"extends"}); ext != nil && d == 1 {
			if f, d := walk(ext, []string{"file"}); f != nil && d == 1 {
				return true
			}
		}
	}
	return false
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
