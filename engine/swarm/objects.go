package swarm

import (
	"context"
	"errors"
	"fmt"
	"os"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/runspec"
)

// object is a config or secret as Swarm keeps it.
type object struct {
	kind   string // "config" or "secret"
	name   string
	data   []byte
	labels map[string]string
}

// objectFor is ref's Swarm object: its content (the file read now, or the
// value), named after the compose name and a hash of content and labels,
// so that any change is a new object.
func objectFor(project, kind string, ref runspec.ObjectRef) (object, error) {
	data := ref.Content
	if ref.File != "" {
		var err error
		if data, err = os.ReadFile(ref.File); err != nil {
			return object{}, fmt.Errorf("%s %q: %w", kind, ref.Key, err)
		}
	}
	hash := hashJSON(struct {
		Data   []byte
		Labels map[string]string
	}{data, ref.Labels})
	labels := stackLabels(project, merge(ref.Labels, map[string]string{
		LabelObject: ref.Key, LabelContentHash: hash, labelProject: project, labelEngine: "hoist",
	}))
	if data == nil {
		data = []byte{}
	}
	return object{kind: kind, name: objectName(ref.Name, hash), data: data, labels: labels}, nil
}

// EnsureObjects creates the configs and secrets s uses that the swarm
// does not hold yet, and returns where each of s's references points.
// An object that exists with the same name has the same content: its
// name says so.
func (e *Engine) EnsureObjects(ctx context.Context, s Service) (ObjectIDs, error) {
	have, err := e.objectIDs(ctx, s.Project)
	if err != nil {
		return nil, err
	}
	found := map[string][2]string{} // kind/key -> name, id
	ensure := func(kind string, ref runspec.ObjectRef) error {
		o, err := objectFor(s.Project, kind, ref)
		if err != nil {
			return err
		}
		id, ok := have[kind+"/"+o.name]
		if !ok {
			if id, err = e.createObject(ctx, o); err != nil {
				return err
			}
			have[kind+"/"+o.name] = id
		}
		found[kind+"/"+ref.Key] = [2]string{o.name, id}
		return nil
	}
	for _, r := range s.Config.Deploy.Secrets {
		if err := ensure("secret", r); err != nil {
			return nil, err
		}
	}
	for _, r := range s.Config.Deploy.Configs {
		if err := ensure("config", r); err != nil {
			return nil, err
		}
	}
	return func(kind string, ref runspec.ObjectRef) (string, string, bool) {
		v, ok := found[kind+"/"+ref.Key]
		return v[0], v[1], ok
	}, nil
}

func (e *Engine) createObject(ctx context.Context, o object) (string, error) {
	ann := swarm.Annotations{Name: o.name, Labels: o.labels}
	var id string
	var err error
	if o.kind == "secret" {
		var r swarm.SecretCreateResponse
		r, err = e.api.SecretCreate(ctx, swarm.SecretSpec{Annotations: ann, Data: o.data})
		id = r.ID
	} else {
		var r swarm.ConfigCreateResponse
		r, err = e.api.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: ann, Data: o.data})
		id = r.ID
	}
	if cerrdefs.IsConflict(err) || cerrdefs.IsAlreadyExists(err) {
		// Another service of the project made it meanwhile: same name,
		// same content.
		have, lerr := e.objectIDs(ctx, o.labels[LabelNamespace])
		if lerr != nil {
			return "", lerr
		}
		if id, ok := have[o.kind+"/"+o.name]; ok {
			return id, nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("create %s %s: %w", o.kind, o.name, err)
	}
	return id, nil
}

// objectIDs maps "kind/name" to the ID of each config and secret of the
// project.
func (e *Engine) objectIDs(ctx context.Context, project string) (map[string]string, error) {
	f := filters.NewArgs(filters.Arg("label", LabelNamespace+"="+project))
	out := map[string]string{}
	cfgs, err := e.api.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list configs: %w", err)
	}
	for _, c := range cfgs {
		out["config/"+c.Spec.Name] = c.ID
	}
	secs, err := e.api.SecretList(ctx, swarm.SecretListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range secs {
		out["secret/"+s.Spec.Name] = s.ID
	}
	return out, nil
}

// PruneObjects removes the project's configs and secrets that no service
// of the project refers to. Call it once the services converged: a
// changed config is a new object, and the old one goes here. (A manual
// `docker service rollback` to a spec whose object went then fails; an
// update that Swarm rolls back fails the wait, before any prune.) It
// returns the names removed.
func (e *Engine) PruneObjects(ctx context.Context, project string) ([]string, error) {
	svcs, err := e.projectServices(ctx, project)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	note := func(spec *swarm.ServiceSpec) {
		if spec == nil || spec.TaskTemplate.ContainerSpec == nil {
			return
		}
		for _, r := range spec.TaskTemplate.ContainerSpec.Secrets {
			used[r.SecretID] = true
		}
		for _, r := range spec.TaskTemplate.ContainerSpec.Configs {
			used[r.ConfigID] = true
		}
	}
	for _, s := range svcs {
		note(&s.Spec)
	}
	have, err := e.objectIDs(ctx, project)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for kn, id := range have {
		if used[id] {
			continue
		}
		kind, name := splitKind(kn)
		if kind == "secret" {
			err = e.api.SecretRemove(ctx, id)
		} else {
			err = e.api.ConfigRemove(ctx, id)
		}
		switch {
		case err == nil, cerrdefs.IsNotFound(err):
			removed = append(removed, name)
		default:
			errs = append(errs, fmt.Errorf("remove %s %s: %w", kind, name, err))
		}
	}
	return removed, errors.Join(errs...)
}

func splitKind(kn string) (string, string) {
	for i := range len(kn) {
		if kn[i] == '/' {
			return kn[:i], kn[i+1:]
		}
	}
	return "", kn
}
