package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hoist-dev/hoist/engine"
)

// CheckName refuses a name Docker would refuse (kind says what it
// names): Docker's rule for container, network and volume names,
// [a-zA-Z0-9][a-zA-Z0-9_.-]*, which also keeps them safe as file names.
// (A loop, not a regexp: hoist run's fast path links this package, and a
// regexp compiled at init costs every hoist process.)
func CheckName(kind, name string) error {
	ok := name != "" && len(name) <= 255
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return fmt.Errorf("invalid %s name %q: use letters, digits, '_', '.' and '-'", kind, name)
	}
	return nil
}

// ReserveName claims name for project/id host-wide; a name another
// container holds is an engine.ErrConflict.
func (l Layout) ReserveName(name, project, id string) error {
	err := CreateFileExclusive(l.NamePath(name), []byte(project+"/"+id))
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("container name %q is already in use: %w", name, engine.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("reserve container name %q: %w", name, err)
	}
	return nil
}

// ReleaseName removes name's entry if it still points at id.
func (l Layout) ReleaseName(name, id string) {
	data, err := os.ReadFile(l.NamePath(name))
	if err == nil && strings.HasSuffix(string(data), "/"+id) {
		os.Remove(l.NamePath(name))
	}
}

// Lookup finds a container by name, ID or unique ID prefix and returns
// its project and ID (engine.ErrNotFound, or engine.ErrConflict for an
// ambiguous prefix).
func (l Layout) Lookup(ref string) (project, id string, err error) {
	if ref == "" || strings.ContainsAny(ref, "/\x00") || ref == "." || ref == ".." {
		return "", "", fmt.Errorf("container %q: %w", ref, engine.ErrNotFound)
	}
	if data, err := os.ReadFile(l.NamePath(ref)); err == nil {
		if p, i, ok := strings.Cut(string(data), "/"); ok {
			if _, err := os.Stat(filepath.Join(l.StateDir(p, i), ConfigFile)); err == nil {
				return p, i, nil
			}
		}
	}
	if !isHex(ref) {
		return "", "", fmt.Errorf("container %q: %w", ref, engine.ErrNotFound)
	}
	matches, _ := filepath.Glob(filepath.Join(l.RunDir, "*", "containers", ref+"*", ConfigFile))
	switch len(matches) {
	case 0:
		return "", "", fmt.Errorf("container %q: %w", ref, engine.ErrNotFound)
	case 1:
		dir := filepath.Dir(matches[0])
		return filepath.Base(filepath.Dir(filepath.Dir(dir))), filepath.Base(dir), nil
	}
	for _, m := range matches {
		if filepath.Base(filepath.Dir(m)) == ref {
			dir := filepath.Dir(m)
			return filepath.Base(filepath.Dir(filepath.Dir(dir))), ref, nil
		}
	}
	return "", "", fmt.Errorf("container ID prefix %q is ambiguous: %w", ref, engine.ErrConflict)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
