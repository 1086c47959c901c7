package orchestrate

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/hoist-dev/hoist/engine"
)

// Event ops of export and commit.
const (
	OpExport = "export container"
	OpCommit = "commit container"
)

// ServiceContainer picks the container of service among cs as docker
// compose's export and commit do: number index, or with index 0 the
// lowest numbered (a one-off only when the service has no other).
func ServiceContainer(cs []engine.Container, service string, index int) (engine.Container, error) {
	var found []engine.Container
	for _, c := range cs {
		if c.Service == service && (index == 0 || (!c.OneOff && c.Number == index)) {
			found = append(found, c)
		}
	}
	if len(found) == 0 {
		if index > 0 {
			return engine.Container{}, fmt.Errorf("service %q has no container number %d", service, index)
		}
		return engine.Container{}, fmt.Errorf("service %q has no container: create it with hoist up", service)
	}
	slices.SortFunc(found, func(a, b engine.Container) int {
		if a.OneOff != b.OneOff {
			if a.OneOff {
				return 1
			}
			return -1
		}
		return a.Number - b.Number
	})
	return found[0], nil
}

// Export writes the file system of c as a tar to w.
func (o *Orchestrator) Export(ctx context.Context, c engine.Container, w io.Writer) error {
	ex, err := ability[engine.Exporter](o.Backend, "export containers")
	if err != nil {
		return err
	}
	o.emit(Event{Op: OpExport, Target: c.Name, Status: "started"})
	rc, err := ex.Export(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("export %s: %w", c.Name, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("export %s: %w", c.Name, err)
	}
	o.emit(Event{Op: OpExport, Target: c.Name, Status: "done"})
	return nil
}

// Commit makes an image of c and returns its ID.
func (o *Orchestrator) Commit(ctx context.Context, c engine.Container, opts engine.CommitOptions) (string, error) {
	cm, err := ability[engine.Committer](o.Backend, "commit containers")
	if err != nil {
		return "", err
	}
	o.emit(Event{Op: OpCommit, Target: c.Name, Status: "started"})
	id, err := cm.Commit(ctx, c.ID, opts)
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", c.Name, err)
	}
	o.emit(Event{Op: OpCommit, Target: c.Name, Status: "done"})
	return id, nil
}
