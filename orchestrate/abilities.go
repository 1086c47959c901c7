package orchestrate

import (
	"context"
	"fmt"
	"io"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/filecopy"
)

// This file holds the commands that are one call of an optional engine
// ability (exec, top, cp, ls, image ...): the CLI reaches the engine only
// through the orchestrator, which says so when the engine lacks one.

// ability is b's optional ability T, or an error saying that the engine
// cannot do what (for example "list images").
func ability[T any](b engine.Backend, what string) (T, error) {
	v, ok := b.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("the %s engine cannot %s: %w", b.Name(), what, engine.ErrNotImplemented)
	}
	return v, nil
}

// Close releases the engine's connections; its objects stay.
func (o *Orchestrator) Close() error { return o.Backend.Close() }

// Exec runs spec in the running container c and returns its exit code.
func (o *Orchestrator) Exec(ctx context.Context, c engine.Container, spec engine.ExecSpec) (int, error) {
	ex, err := ability[engine.Execer](o.Backend, "exec")
	if err != nil {
		return 0, err
	}
	code, err := ex.Exec(ctx, c.ID, spec)
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", c.Name, err)
	}
	return code, nil
}

// Processes are a container's processes, as ps shows them.
type Processes struct {
	Container engine.Container
	Titles    []string
	Rows      [][]string
}

// Top lists the processes of each running container of cs.
func (o *Orchestrator) Top(ctx context.Context, cs []engine.Container) ([]Processes, error) {
	t, err := ability[engine.Toper](o.Backend, "list processes")
	if err != nil {
		return nil, err
	}
	var out []Processes
	for _, c := range cs {
		if c.State != engine.StateRunning {
			continue
		}
		titles, rows, err := t.Top(ctx, c.ID)
		if err != nil {
			return out, err
		}
		out = append(out, Processes{Container: c, Titles: titles, Rows: rows})
	}
	return out, nil
}

// Copy is hoist cp: r between one of cs and the host (filecopy's rules).
func (o *Orchestrator) Copy(ctx context.Context, cs []engine.Container, r filecopy.Request) error {
	cp, err := ability[engine.Copier](o.Backend, "copy files")
	if err != nil {
		return err
	}
	return filecopy.Run(ctx, cp, cs, r)
}

// Projects lists the projects the engine holds containers for.
func (o *Orchestrator) Projects(ctx context.Context) ([]engine.ProjectSummary, error) {
	l, err := ability[engine.ProjectLister](o.Backend, "list projects")
	if err != nil {
		return nil, err
	}
	return l.Projects(ctx)
}

// ListImages lists the engine's local images.
func (o *Orchestrator) ListImages(ctx context.Context) ([]engine.ImageSummary, error) {
	l, err := ability[engine.ImageLister](o.Backend, "list images")
	if err != nil {
		return nil, err
	}
	return l.ListImages(ctx)
}

// ImageSizes maps the local images' IDs to their sizes; empty when the
// engine cannot list its images.
func (o *Orchestrator) ImageSizes(ctx context.Context) (map[string]int64, error) {
	sizes := map[string]int64{}
	l, ok := o.Backend.(engine.ImageLister)
	if !ok {
		return sizes, nil
	}
	list, err := l.ListImages(ctx)
	if err != nil {
		return nil, err
	}
	for _, im := range list {
		sizes[im.ID] = im.Size
	}
	return sizes, nil
}

// ImportImage creates image ref from a root filesystem tarball, like
// docker import; changes are Dockerfile instructions. It returns the ID.
func (o *Orchestrator) ImportImage(ctx context.Context, r io.Reader, ref string, changes []string) (string, error) {
	im, err := ability[engine.ImageImporter](o.Backend, "import images")
	if err != nil {
		return "", err
	}
	return im.ImportImage(ctx, r, ref, changes)
}

// LoadImages loads the images of a docker save or OCI layout archive and
// returns their references.
func (o *Orchestrator) LoadImages(ctx context.Context, r io.Reader) ([]string, error) {
	l, err := ability[engine.ImageLoader](o.Backend, "load images")
	if err != nil {
		return nil, err
	}
	return l.LoadImages(ctx, r, nil)
}

// RemoveImage removes a local image.
func (o *Orchestrator) RemoveImage(ctx context.Context, ref string, force bool) error {
	r, err := ability[engine.ImageRemover](o.Backend, "remove images")
	if err != nil {
		return err
	}
	return r.RemoveImage(ctx, ref, force)
}

// InspectImages describes local images, in the order of refs.
func (o *Orchestrator) InspectImages(ctx context.Context, refs []string) ([]engine.ImageDetail, error) {
	in, err := ability[engine.ImageInspector](o.Backend, "inspect images")
	if err != nil {
		return nil, err
	}
	var out []engine.ImageDetail
	for _, ref := range refs {
		d, err := in.InspectImage(ctx, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}
