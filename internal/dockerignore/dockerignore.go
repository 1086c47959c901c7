// Package dockerignore reads .dockerignore files the way Docker does, for
// the docker engine's build context, the native builder and watch.
package dockerignore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// BuildFiles lists the ignore files of a build in Docker's order of
// preference: <Dockerfile>.dockerignore (unless the Dockerfile is inline),
// then <context>/.dockerignore.
func BuildFiles(context, dockerfile string) []string {
	var out []string
	if dockerfile != "" {
		out = append(out, dockerfile+".dockerignore")
	}
	return append(out, filepath.Join(context, ".dockerignore"))
}

// Load reads the first of files that exists; only that one applies. The
// matcher is nil when none exists or it holds no pattern.
func Load(files ...string) (*patternmatcher.PatternMatcher, error) {
	for _, p := range files {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read ignore file: %w", err)
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read ignore file %s: %w", p, err)
		}
		if len(patterns) == 0 {
			return nil, nil
		}
		m, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, fmt.Errorf("ignore file %s: %w", p, err)
		}
		return m, nil
	}
	return nil, nil
}
