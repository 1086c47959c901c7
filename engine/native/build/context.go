package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/internal/dockerignore"
	"github.com/moby/patternmatcher"
)

// srcTree is where COPY/ADD sources come from: the build context (filtered
// by .dockerignore, symlinks may not lead out of it) or a stage's or
// image's rootfs (symlinks resolve inside it, as in a container).
type srcTree struct {
	root   string
	pm     *patternmatcher.PatternMatcher // context only; nil: nothing ignored
	scoped bool
	hash   *hashCache
	// seen holds the hashes of the files hashed in this build; fresh
	// says some were computed rather than remembered.
	seen  map[fileID]string
	fresh bool
}

// openContext opens the build context dir. Its ignore file is
// <Dockerfile>.dockerignore next to the Dockerfile when that exists, else
// .dockerignore at the context root.
func openContext(dir, dockerfile string, inline bool, hc *hashCache) (*srcTree, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("build: context: %w", err)
	}
	t := &srcTree{root: root, hash: hc}
	if inline {
		dockerfile = ""
	}
	pm, err := dockerignore.Load(dockerignore.BuildFiles(root, dockerfile)...)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	t.pm = pm
	return t, nil
}

// ignored reports whether abs (inside the tree) is excluded by
// .dockerignore. A directory is only pruned when no pattern re-includes
// something below it.
func (t *srcTree) ignored(abs string, isDir bool) bool {
	if t.pm == nil {
		return false
	}
	rel, err := filepath.Rel(t.root, abs)
	if err != nil || rel == "." {
		return false
	}
	m, err := t.pm.MatchesOrParentMatches(rel)
	if err != nil || !m {
		return false
	}
	return !isDir || !t.pm.Exclusions()
}

// source is one resolved COPY/ADD source.
type source struct {
	abs  string // resolved path, inside the tree
	name string // the base name it is copied under
	info os.FileInfo
}

func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// resolve expands one COPY/ADD source (globs allowed) to existing paths.
func (t *srcTree) resolve(src string) ([]source, error) {
	clean := path.Clean(filepath.ToSlash(src))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, fmt.Errorf("source %q is outside the build context", src)
	}
	clean = strings.TrimPrefix(clean, "/")
	if !hasGlob(clean) {
		s, err := t.resolveOne(clean, src)
		if err != nil {
			return nil, err
		}
		return []source{s}, nil
	}
	matches, err := t.glob(clean)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", src, err)
	}
	var out []source
	for _, m := range matches {
		s, err := t.resolveOne(m, src)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("source %q: no files match", src)
	}
	return out, nil
}

// glob matches pattern component by component without following a
// symlink to a directory out of the tree.
func (t *srcTree) glob(pattern string) ([]string, error) {
	paths := []string{""}
	for _, comp := range strings.Split(pattern, "/") {
		var next []string
		for _, p := range paths {
			if !hasGlob(comp) {
				next = append(next, path.Join(p, comp))
				continue
			}
			dir, err := resolveIn(t.root, p, t.scoped)
			if err != nil {
				return nil, err
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, de := range ents {
				ok, err := path.Match(comp, de.Name())
				if err != nil {
					return nil, err
				}
				if ok && !t.ignored(filepath.Join(dir, de.Name()), de.IsDir()) {
					next = append(next, path.Join(p, de.Name()))
				}
			}
		}
		paths = next
	}
	sort.Strings(paths)
	return paths, nil
}

func (t *srcTree) resolveOne(rel, orig string) (source, error) {
	abs, err := resolveIn(t.root, rel, t.scoped)
	if errors.Is(err, errEscape) {
		return source{}, fmt.Errorf("source %q is a symlink that leads outside the build context", orig)
	}
	if err != nil {
		return source{}, fmt.Errorf("source %q: %w", orig, err)
	}
	info, err := os.Lstat(abs)
	if err != nil || t.ignored(abs, info.IsDir()) {
		return source{}, fmt.Errorf("source %q: not found in the build context", orig)
	}
	name := path.Base(rel)
	if rel == "" || rel == "." {
		name = "."
	}
	return source{abs: abs, name: name, info: info}, nil
}

// skipFunc is the copy filter for this tree.
func (t *srcTree) skipFunc() func(string, bool) bool {
	if t.pm == nil {
		return nil
	}
	return t.ignored
}

// digest hashes the sources as they will be copied: names, types, modes,
// contents and symlink targets; not owners or times.
func (t *srcTree) digest(srcs []source) (string, error) {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "source %s\x00", s.name)
		if err := t.hashEntry(h, s.abs, ".", s.info); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (t *srcTree) hashEntry(h io.Writer, abs, rel string, info fs.FileInfo) error {
	fmt.Fprintf(h, "%s\x00%o\x00", rel, info.Mode())
	switch {
	case info.Mode().IsRegular():
		sum, err := t.fileHash(abs, info)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00", sum)
	case info.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(abs)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00", target)
	case info.IsDir():
		ents, err := os.ReadDir(abs)
		if err != nil {
			return err
		}
		sort.Slice(ents, func(a, b int) bool { return ents[a].Name() < ents[b].Name() })
		for _, de := range ents {
			p := filepath.Join(abs, de.Name())
			if t.ignored(p, de.IsDir()) {
				continue
			}
			ci, err := de.Info()
			if err != nil {
				return err
			}
			if err := t.hashEntry(h, p, path.Join(rel, de.Name()), ci); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *srcTree) fileHash(abs string, info fs.FileInfo) (string, error) {
	var id fileID
	st, ok := info.Sys().(*syscall.Stat_t)
	if ok {
		id = fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano(), ctim: st.Ctim.Nano()}
		if sum, ok := t.hash.get(id); ok {
			t.remember(id, sum, false)
			return sum, nil
		}
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// A file changed within the timestamp granularity after being hashed
	// would look unchanged, so only files quiet for a while are remembered.
	if ok && time.Since(info.ModTime()) > 2*time.Second {
		t.hash.put(id, sum)
		t.remember(id, sum, true)
	}
	return sum, nil
}

func (t *srcTree) remember(id fileID, sum string, fresh bool) {
	if t.seen == nil {
		t.seen = map[fileID]string{}
	}
	t.seen[id] = sum
	t.fresh = t.fresh || fresh
}
