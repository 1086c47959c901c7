// Package compose loads compose files the way docker compose does (through
// compose-go), validates what can be known before anything is created, and
// turns loader errors into one-line messages that name the file, line and
// service. It never talks to an engine.
package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Options select the compose files and environment, as docker compose's
// global flags do.
type Options struct {
	Files      []string // -f, in order; empty means discovery
	Name       string   // -p
	ProjectDir string   // --project-directory
	Profiles   []string // --profile
	EnvFiles   []string // --env-file
	// Environ is the process environment (os.Environ()), passed in so the
	// loader never reads globals.
	Environ []string
	// CacheDir, when set, remembers inputs that validated so that the next
	// identical load skips schema validation (see validationKey).
	CacheDir string
	// ModelOnly loads the model as `docker compose config` prints it:
	// what only matters once containers are made (a missing build
	// context, Dockerfile, secret or config file, an unset secret
	// variable) is a warning instead of an error, and an optional
	// depends_on naming a service its profile disables is kept.
	ModelOnly bool
	// Swarm validates for a swarm (ResolveOptions.Swarm): secrets and
	// configs are swarm objects, external ones allowed.
	Swarm bool
	// Warn receives the loader's warnings, located where the message
	// allows; nil drops them.
	Warn func(*Error)
}

// Load reads, interpolates, merges and validates the project. Errors are
// *Error values carrying file, line and service where they are known.
func Load(ctx context.Context, o Options) (*types.Project, error) {
	p, _, err := load(ctx, o, false, nil)
	return p, err
}

// LoadLocated is Load, and a Locator for the files the project came
// from, so that a later step (a converter) can say where a key it
// refuses or drops is written.
func LoadLocated(ctx context.Context, o Options) (*types.Project, *Locator, error) {
	loc := &Locator{}
	p, _, err := load(ctx, o, false, loc)
	return p, loc, err
}

// LoadWithInputs is Load, and the files the project was made from
// (see inputs); those are nil when they cannot be known.
func LoadWithInputs(ctx context.Context, o Options) (*types.Project, *Inputs, error) {
	return load(ctx, o, true, nil)
}

func load(ctx context.Context, o Options, withInputs bool, loc *Locator) (*types.Project, *Inputs, error) {
	registerRawEnvFormat()
	warn := o.Warn
	if warn == nil {
		warn = func(*Error) {}
	}
	var (
		p         *types.Project
		in        *Inputs
		docs      sourceDocs
		key       string
		cacheable bool
		skip      bool
		warnings  []string
	)
	err := captureWarnings(func(msg string) { warnings = append(warnings, msg) }, func() error {
		popts, err := projectOptions(o)
		if err != nil {
			return err
		}
		// A syntax pre-pass per file: compose-go's YAML errors do not say
		// which file they come from, and the parsed nodes let later errors
		// (and warnings) find lines.
		if docs, err = parseFiles(popts.ConfigPaths); err != nil {
			return err
		}
		key, cacheable = validationKey(o, popts, docs)
		skip = cacheable && cachedValid(o.CacheDir, key)
		if skip {
			if err := cli.WithLoadOptions(func(lo *loader.Options) { lo.SkipValidation = true })(popts); err != nil {
				return fmt.Errorf("compose options: %w", err)
			}
		}
		// The services' environments are resolved here rather than by the
		// loader, as it would (env_file read and discarded), so that inputs
		// can see the env_file paths first.
		if err := cli.WithoutEnvironmentResolution(popts); err != nil {
			return fmt.Errorf("compose options: %w", err)
		}
		if p, err = popts.LoadProject(ctx); err != nil {
			return explain(err, docs)
		}
		if withInputs {
			in = inputs(o, popts, docs, p)
		}
		if p, err = p.WithServicesEnvironmentResolved(true); err != nil {
			return explain(err, docs)
		}
		// Services disabled by profiles are gone from p.Services; dependencies
		// on them that are optional must not fail planning. docker compose's
		// model keeps them.
		if !o.ModelOnly {
			p = p.WithoutUnresolvedOptionalDependencies()
		}
		if p, err = p.WithServicesEnvironmentResolved(false); err != nil {
			return explain(err, docs)
		}
		return nil
	})
	// compose-go's warnings, located now that the files are parsed, in
	// the files' order (compose-go walks maps, in no order).
	located := make([]*Error, 0, len(warnings))
	for _, msg := range warnings {
		located = append(located, explainWarning(msg, docs))
	}
	slices.SortStableFunc(located, func(a, b *Error) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	for _, w := range located {
		warn(w)
	}
	if err != nil {
		return nil, nil, err
	}
	problems := validate(p, docs, o.Swarm)
	if o.ModelOnly {
		problems = slices.DeleteFunc(problems, func(e error) bool {
			var ce *Error
			if errors.Is(e, errMissingInput) && errors.As(e, &ce) {
				warn(ce)
				return true
			}
			return false
		})
	}
	if err := errors.Join(problems...); err != nil {
		return nil, nil, err
	}
	if cacheable && !skip {
		rememberValid(o.CacheDir, key)
	}
	if loc != nil {
		loc.docs = docs
	}
	return p, in, nil
}

func projectOptions(o Options) (*cli.ProjectOptions, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithEnv(o.Environ),
		cli.WithWorkingDirectory(o.ProjectDir),
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.Name),
		cli.WithResolvedPaths(true),
		cli.WithDiscardEnvFile,
	}
	popts, err := cli.NewProjectOptions(o.Files, opts...)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &Error{Msg: err.Error(), Hint: "check the paths given with -f or COMPOSE_FILE"}
		}
		return nil, fmt.Errorf("compose options: %w", err)
	}
	if len(popts.ConfigPaths) == 0 {
		return nil, &Error{Msg: "no compose file found (compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml) in this directory or any parent", Hint: "run hoist in a project directory or pass -f FILE"}
	}
	return popts, nil
}
