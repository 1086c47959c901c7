package compose

import (
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Inputs are the files a load was made from, for a result that is reused
// while they are unchanged (hoist run's fast path, internal/runcache).
type Inputs struct {
	// Files matter by their bytes; an absent one by its absence.
	Files []string
	// Present matter only by whether they exist, as a directory or not:
	// what Validate looks at (build contexts and Dockerfiles, secret and
	// config files).
	Present []string
}

// inputs lists the files a load with o reads or looks for, p being its
// result before the services' environments are resolved: the compose
// files, the discovery candidates that were not found (one that appears
// would change the project), the .env files and every service's env_file
// and label_file; and what Validate checks exists. A
// result made from p stays right as long as these, and o's environment,
// are unchanged. It is nil when that cannot be known: the project comes
// from stdin or pulls in other files (include, extends with file).
func inputs(o Options, popts *cli.ProjectOptions, docs sourceDocs, p *types.Project) *Inputs {
	var paths []string
	files := popts.ConfigPaths
	if len(files) == 0 || len(docs) != len(files) {
		return nil // stdin
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(cwd, p)
	}
	dotEnvDirs := []string{cwd, p.WorkingDir}
	if o.ProjectDir != "" {
		dotEnvDirs = append(dotEnvDirs, abs(o.ProjectDir))
	}
	for _, d := range docs {
		if pullsInFiles(d.data) {
			return nil
		}
		paths = append(paths, abs(d.path))
		dotEnvDirs = append(dotEnvDirs, filepath.Dir(abs(d.path)))
	}
	if len(o.Files) == 0 && popts.Environment["COMPOSE_FILE"] == "" {
		// Discovery looked in each directory from the start up to the
		// first file's.
		dir := cwd
		if o.ProjectDir != "" {
			dir = abs(o.ProjectDir)
		}
		found := filepath.Dir(abs(files[0]))
		for {
			for _, n := range append(cli.DefaultFileNames, cli.DefaultOverrideFileNames...) {
				paths = append(paths, filepath.Join(dir, n))
			}
			parent := filepath.Dir(dir)
			if dir == found || parent == dir {
				break
			}
			dir = parent
		}
	}
	for _, d := range dotEnvDirs {
		paths = append(paths, filepath.Join(d, ".env"))
	}
	for _, f := range popts.EnvFiles {
		paths = append(paths, abs(f))
	}
	in := &Inputs{}
	for _, s := range p.AllServices() {
		for _, f := range s.EnvFiles {
			paths = append(paths, abs(f.Path))
		}
		for _, f := range s.LabelFiles {
			paths = append(paths, abs(f))
		}
		if b := s.Build; b != nil && b.Context != "" && !isRemoteContext(b.Context) {
			in.Present = append(in.Present, abs(b.Context))
			if b.DockerfileInline == "" {
				df := b.Dockerfile
				if df == "" {
					df = "Dockerfile"
				}
				if !filepath.IsAbs(df) {
					df = filepath.Join(b.Context, df)
				}
				in.Present = append(in.Present, abs(df))
			}
		}
	}
	for _, obj := range p.Secrets {
		if obj.File != "" {
			in.Present = append(in.Present, abs(obj.File))
		}
	}
	for _, obj := range p.Configs {
		if obj.File != "" {
			in.Present = append(in.Present, abs(obj.File))
		}
	}
	in.Files = paths
	return in
}
