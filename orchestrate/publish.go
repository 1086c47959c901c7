package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/ociartifact"
)

// OpPublish is the event op of publish.
const OpPublish = "publish"

// PublishOptions are docker compose publish's.
type PublishOptions struct {
	// OCIVersion is "", "1.0" or "1.1" (ociartifact.Options).
	OCIVersion string
	// WithEnv publishes the services' environment without asking.
	WithEnv  bool
	Insecure bool
	// Confirm asks the user; nil (or a no) cancels a publish that needs
	// a yes (bind mounts, environment values).
	Confirm func(msg string) bool
	// Version is hoist's, annotated on the layers.
	Version string
}

// ErrCanceled is a publish the user did not confirm.
var ErrCanceled = errors.New("publish canceled")

var (
	includeKey = regexp.MustCompile(`(?m)^include\s*:`)
	// env_file is resolved into environment by the loader; the file
	// still names its paths.
	envFileKey = regexp.MustCompile(`(?m)^\s+env_file\s*:`)
)

// Publish pushes the images the project builds (failures only warn, as
// docker compose ignores them) and then its compose files as the OCI
// artifact repo, as docker compose publish does; it returns the
// artifact's digest. What the artifact cannot carry faithfully is
// refused: services with a build and no image, local includes and
// extends, env_file (whose local paths docker compose rewrites).
func (o *Orchestrator) Publish(ctx context.Context, p *types.Project, repo string, opts PublishOptions) (string, error) {
	var buildOnly, envFiles, extends, binds, envs []string
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Build != nil && s.Image == "" {
			buildOnly = append(buildOnly, name)
		}
		if len(s.EnvFiles) > 0 {
			envFiles = append(envFiles, name)
		}
		if s.Extends != nil && s.Extends.File != "" {
			extends = append(extends, name)
		}
		if len(s.Environment) > 0 {
			envs = append(envs, name)
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				binds = append(binds, fmt.Sprintf("%s: %s", name, v.Source))
			}
		}
	}
	if len(buildOnly) > 0 {
		return "", fmt.Errorf("your Compose stack cannot be published as it only contains a build section for service(s):\n- %s", strings.Join(buildOnly, "\n- "))
	}
	if len(extends) > 0 {
		return "", fmt.Errorf("publish: service(s) %s extend local files, which hoist does not publish yet", strings.Join(extends, ", "))
	}
	if len(envFiles) > 0 {
		return "", fmt.Errorf("publish: service(s) %s use env_file, whose local paths hoist does not rewrite for the artifact yet", strings.Join(envFiles, ", "))
	}
	var files []ociartifact.File
	for _, f := range p.ComposeFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
		if includeKey.Match(data) {
			return "", fmt.Errorf("publish: %s includes other files, which hoist does not publish yet", f)
		}
		if envFileKey.Match(data) {
			return "", fmt.Errorf("publish: %s uses env_file, whose local paths hoist does not rewrite for the artifact yet", f)
		}
		files = append(files, ociartifact.File{Name: f, Data: data})
	}
	confirm := func(msg string) error {
		if opts.Confirm == nil || !opts.Confirm(msg) {
			return ErrCanceled
		}
		return nil
	}
	if len(binds) > 0 {
		slices.Sort(binds)
		if err := confirm("you are about to publish bind mounts declaration within your OCI artifact.\n" +
			"only the bind mount declarations will be added to the OCI artifact (not content)\n" +
			"please double check that you are not mounting potential user's sensitive directories or data\n" +
			strings.Join(binds, "\n") + "\nAre you ok to publish these bind mount declarations?"); err != nil {
			return "", err
		}
	}
	if len(envs) > 0 && !opts.WithEnv {
		if err := confirm(fmt.Sprintf("service(s) %s declare environment values, which the OCI artifact will hold in clear.\n"+
			"Are you ok to publish them? (--with-env does not ask)", strings.Join(envs, ", "))); err != nil {
			return "", err
		}
	}
	if err := o.Push(ctx, p, nil); err != nil && !errors.Is(err, context.Canceled) {
		o.warn(fmt.Sprintf("publish: images not pushed (the artifact still names them): %v", err))
	}
	o.emit(Event{Op: OpPublish, Target: repo, Status: "started"})
	d, err := ociartifact.Push(ctx, repo, files, ociartifact.Options{OCIVersion: opts.OCIVersion, Version: opts.Version, Insecure: opts.Insecure})
	if err != nil {
		o.emit(Event{Op: OpPublish, Target: repo, Status: "failed", Message: err.Error()})
		return "", err
	}
	o.emit(Event{Op: OpPublish, Target: repo, Status: "done"})
	return d, nil
}
