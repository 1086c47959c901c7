package docker

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/internal/dockerignore"
)

// inlineDockerfile is the name a dockerfile_inline (or a Dockerfile outside
// the context) gets inside the context tar.
const inlineDockerfile = ".hoist.Dockerfile"

// buildContext is a context directory ready to be streamed as a tar.
type buildContext struct {
	dir string
	// dockerfile is its path inside the tar, sent as the build's Dockerfile.
	dockerfile string
	// extra holds a Dockerfile that does not come from the context files.
	extra   []byte
	matcher *patternmatcher.PatternMatcher
}

// newBuildContext validates spec's directories and reads the ignore file:
// <Dockerfile>.dockerignore next to the Dockerfile wins over the context's
// .dockerignore, as with BuildKit and the docker CLI.
func newBuildContext(spec engine.BuildSpec) (*buildContext, error) {
	st, err := os.Stat(spec.Context)
	if err != nil {
		return nil, fmt.Errorf("build context %q: %w", spec.Context, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("build context %q is not a directory", spec.Context)
	}
	bc := &buildContext{dir: spec.Context}
	dfPath := "" // the Dockerfile on disk, for its own ignore file
	if spec.Inline != "" {
		bc.dockerfile, bc.extra = inlineDockerfile, []byte(spec.Inline)
	} else {
		df := spec.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if !filepath.IsAbs(df) {
			df = filepath.Join(spec.Context, df)
		}
		rel, err := filepath.Rel(spec.Context, df)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			// Outside the context: ship its content under a fixed name.
			data, err := os.ReadFile(df)
			if err != nil {
				return nil, fmt.Errorf("read Dockerfile: %w", err)
			}
			bc.dockerfile, bc.extra = inlineDockerfile, data
		} else {
			if _, err := os.Stat(df); err != nil {
				return nil, fmt.Errorf("Dockerfile: %w", err)
			}
			bc.dockerfile = filepath.ToSlash(rel)
		}
		dfPath = df
	}
	m, err := dockerignore.Load(dockerignore.BuildFiles(spec.Context, dfPath)...)
	if err != nil {
		return nil, err
	}
	bc.matcher = m
	return bc, nil
}

// writeTar writes the context as a tar: every file the ignore patterns
// keep, plus the Dockerfile and .dockerignore, which the daemon needs
// whatever the patterns say. Owners are reset to root as the docker CLI does
// so that the image does not depend on who ran the build.
func (bc *buildContext) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	forced := map[string]bool{bc.dockerfile: true, ".dockerignore": true}
	written := map[string]bool{}
	parents := map[string]patternmatcher.MatchInfo{}
	err := filepath.WalkDir(bc.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(bc.dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if bc.matcher != nil && !forced[rel] {
			excluded, info, err := bc.matcher.MatchesUsingParentResults(rel, parents[path.Dir(rel)])
			if err != nil {
				return fmt.Errorf("match %s: %w", rel, err)
			}
			if d.IsDir() {
				parents[rel] = info
			}
			if excluded {
				if d.IsDir() && !bc.matcher.Exclusions() {
					// Nothing below can be re-included: skip the subtree.
					return filepath.SkipDir
				}
				return nil
			}
		}
		written[rel] = true
		return addFile(tw, p, rel)
	})
	if err != nil {
		return fmt.Errorf("tar build context: %w", err)
	}
	for name := range forced {
		if written[name] || name == inlineDockerfile {
			continue
		}
		p := filepath.Join(bc.dir, filepath.FromSlash(name))
		if _, err := os.Lstat(p); err != nil {
			continue // no .dockerignore
		}
		if err := addFile(tw, p, name); err != nil {
			return fmt.Errorf("tar build context: %w", err)
		}
	}
	if bc.extra != nil {
		hdr := &tar.Header{Name: inlineDockerfile, Mode: 0o644, Size: int64(len(bc.extra)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, bytes.NewReader(bc.extra)); err != nil {
			return err
		}
	}
	return tw.Close()
}

// addFile writes one directory, regular file or symlink; other kinds
// (sockets, devices) have no place in a build context and are skipped.
func addFile(tw *tar.Writer, p, name string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	var link string
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	case fi.IsDir(), fi.Mode().IsRegular():
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
