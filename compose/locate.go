package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// sourceDoc is one compose file parsed as YAML nodes, kept to find the line
// of a key or value that an error is about.
type sourceDoc struct {
	path    string
	display string
	root    *yaml.Node // the first document
	data    []byte
}

type sourceDocs []sourceDoc

func parseFiles(paths []string) (sourceDocs, error) {
	cwd, _ := os.Getwd()
	var docs sourceDocs
	for _, p := range paths {
		if p == "-" {
			continue
		}
		display := p
		if cwd != "" {
			if rel, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(rel, "..") {
				display = rel
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, &Error{File: display, Msg: fmt.Sprintf("cannot read: %v", err), Hint: "check the path and permissions", Err: err}
		}
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, &Error{File: display, Line: yamlErrorLine(err.Error(), data), Msg: "invalid YAML: " + cleanYAMLError(err.Error()), Hint: "fix the syntax (indentation, a missing ':' or an unclosed bracket)", Err: err}
		}
		docs = append(docs, sourceDoc{path: p, display: display, root: &root, data: data})
	}
	return docs, nil
}

var (
	reYAMLPos = lazyRegexp(`(?:\bat )?\bline (\d+)(?:, column \d+)?:?`)
	// go-yaml v4's form: "go-yaml load error in parser (while parsing a
	// block mapping) at L2.C3-L4.C4: did not find expected key".
	reYAMLLoadError = lazyRegexp(`^go-yaml load error in \w+(?: \(([^)]*)\))? at L(\d+)\.C\d+(?:-L(\d+)\.C\d+)?: (.*)$`)
)

// yamlErrorLine finds the line a YAML error is about: the end of the range
// go-yaml v4 reports (older parsers reported 0-based lines and the scanner
// 1-based ones, the problem position last). One past the end of the file
// (an unclosed bracket) means the last line with content.
func yamlErrorLine(msg string, data []byte) int {
	var line int
	if m := reYAMLLoadError().FindStringSubmatch(msg); m != nil {
		end := m[2]
		if m[3] != "" {
			end = m[3]
		}
		line, _ = strconv.Atoi(end)
	} else {
		m := reYAMLPos().FindAllStringSubmatch(msg, -1)
		if len(m) == 0 {
			return 0
		}
		line, _ = strconv.Atoi(m[len(m)-1][1])
		if strings.HasPrefix(strings.TrimPrefix(msg, "yaml: "), "while parsing") {
			line++
		}
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if line > len(lines) {
		line = len(lines)
		for line > 1 && strings.TrimSpace(lines[line-1]) == "" {
			line--
		}
	}
	return line
}

func cleanYAMLError(s string) string {
	if m := reYAMLLoadError().FindStringSubmatch(s); m != nil {
		if m[1] != "" {
			return m[1] + ": " + m[4]
		}
		return m[4]
	}
	s = strings.TrimPrefix(s, "yaml: ")
	s = reYAMLPos().ReplaceAllString(s, ":")
	s = strings.Join(strings.Fields(s), " ")
	for strings.Contains(s, "::") || strings.Contains(s, " :") {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "::", ":"), " :", ":")
	}
	return strings.Trim(strings.TrimSpace(s), ": ")
}

// locate finds the deepest existing node on path, searching the last file
// first because overrides win.
func (d sourceDocs) locate(path []string) (string, int) {
	for i := len(d) - 1; i >= 0; i-- {
		if n, depth := walk(d[i].root, path); n != nil && depth == len(path) {
			return d[i].display, n.Line
		}
	}
	// Fall back to the closest ancestor found anywhere.
	best, bestFile, bestDepth := 0, "", -1
	for i := len(d) - 1; i >= 0; i-- {
		if n, depth := walk(d[i].root, path); n != nil && depth > bestDepth {
			best, bestFile, bestDepth = n.Line, d[i].display, depth
		}
	}
	if bestDepth < 0 && len(d) > 0 {
		return d[0].display, 0
	}
	return bestFile, best
}

// locateIn is locate restricted to the file compose-go named.
func (d sourceDocs) locateIn(file string, path []string) (string, int) {
	for _, doc := range d {
		if doc.path == file {
			if n, _ := walk(doc.root, path); n != nil {
				return doc.display, n.Line
			}
			return doc.display, 0
		}
	}
	return d.locate(path)
}

// locateValue finds a scalar equal to value (a list item or a map key)
// under path.
func (d sourceDocs) locateValue(path []string, value string) (string, int) {
	for i := len(d) - 1; i >= 0; i-- {
		n, depth := walk(d[i].root, path)
		if n == nil || depth != len(path) {
			continue
		}
		if v := findScalar(n, func(s string) bool { return s == value }); v != nil {
			return d[i].display, v.Line
		}
		return d[i].display, n.Line
	}
	return d.locate(path)
}

// findServiceValue finds which service has a scalar under key containing
// token; compose-go reports some port errors without the service.
func (d sourceDocs) findServiceValue(key, token string) (service, file string, line int) {
	for i := len(d) - 1; i >= 0; i-- {
		services, depth := walk(d[i].root, []string{"services"})
		if services == nil || depth != 1 || services.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(services.Content); j += 2 {
			name := services.Content[j].Value
			n, dep := walk(services.Content[j+1], []string{key})
			if n == nil || dep != 1 {
				continue
			}
			if v := findScalar(n, func(s string) bool { return strings.Contains(s, token) }); v != nil {
				return name, d[i].display, v.Line
			}
		}
	}
	if len(d) > 0 {
		return "", d[0].display, 0
	}
	return "", "", 0
}

// findEnvFile finds the env_file entry that names path (as written, or
// relative to its compose file's directory): its service, file and line.
func (d sourceDocs) findEnvFile(path string) (service, file string, line int) {
	for i := len(d) - 1; i >= 0; i-- {
		services, depth := walk(d[i].root, []string{"services"})
		if services == nil || depth != 1 || services.Kind != yaml.MappingNode {
			continue
		}
		dir := filepath.Dir(d[i].path)
		names := func(v string) bool {
			return v == path || filepath.Join(dir, v) == filepath.Clean(path)
		}
		for j := 0; j+1 < len(services.Content); j += 2 {
			n, dep := walk(services.Content[j+1], []string{"env_file"})
			if n == nil || dep != 1 {
				continue
			}
			if v := findScalar(n, names); v != nil {
				return services.Content[j].Value, d[i].display, v.Line
			}
		}
	}
	if len(d) > 0 {
		return "", d[0].display, 0
	}
	return "", "", 0
}

// walk follows path through mappings (by key) and sequences (by index) and
// returns the deepest node reached and how many elements matched.
func walk(n *yaml.Node, path []string) (*yaml.Node, int) {
	if n == nil {
		return nil, 0
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, 0
		}
		n = n.Content[0]
	}
	cur := n
	for i, p := range path {
		next := child(cur, p)
		if next == nil {
			return cur, i
		}
		cur = next
	}
	return cur, len(path)
}

func child(n *yaml.Node, key string) *yaml.Node {
	switch n.Kind {
	case yaml.MappingNode:
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				// Point at the key's line for scalars, the value's for blocks.
				if n.Content[j+1].Kind == yaml.ScalarNode {
					return n.Content[j+1]
				}
				v := *n.Content[j+1]
				if v.Line == 0 || v.Line > n.Content[j].Line {
					v.Line = n.Content[j].Line
				}
				return &v
			}
		}
	case yaml.SequenceNode:
		if idx, err := strconv.Atoi(key); err == nil && idx >= 0 && idx < len(n.Content) {
			return n.Content[idx]
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			return child(n.Alias, key)
		}
	}
	return nil
}

func findScalar(n *yaml.Node, match func(string) bool) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && match(n.Value) {
		return n
	}
	for _, c := range n.Content {
		if v := findScalar(c, match); v != nil {
			return v
		}
	}
	return nil
}

// Locator finds where a key of a loaded project is written
// (LoadLocated). The zero value and nil find nothing.
type Locator struct{ docs sourceDocs }

// Locate returns the file (as the user would type it) and 1-based line of
// the key at path, as ["services", "web", "volumes", "0"]; "" and 0 when
// it is not written in any file (a default, or stdin).
func (l *Locator) Locate(path ...string) (file string, line int) {
	if l == nil {
		return "", 0
	}
	return l.docs.locate(path)
}
