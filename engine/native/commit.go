package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/build"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// Export and Commit read a container's writable layer from the host.
// The walk opens files by path under a directory the container can
// change, so a running container is frozen throughout: a rename it made
// between the walk's look and its open could otherwise swap in a symlink
// to a host file. (So commit -p=false pauses it too.)

// Export streams the container's root file system: its image's layers
// with its writable layer on top, merged by a read-only overlay mount
// (whiteouts applied), without its volumes and binds.
func (b *Backend) Export(ctx context.Context, id string) (io.ReadCloser, error) {
	r, done, err := b.holdLayer(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	target, err := os.MkdirTemp(b.layout.LayerDir(r.ID), "export-")
	if err != nil {
		done()
		return nil, fmt.Errorf("export %s: %w", r.Name, err)
	}
	lowers := append(slices.Clone(b.layers(ctx, r)), filepath.Join(b.layout.LayerDir(r.ID), "upper"))
	if err := image.MountRootfs(lowers, "", "", target); err != nil {
		os.Remove(target)
		done()
		return nil, fmt.Errorf("export %s: %w", r.Name, err)
	}
	pr, pw := io.Pipe()
	cleaned := make(chan struct{})
	go func() {
		err := build.WriteLayer(pw, target)
		pw.CloseWithError(err)
		_ = image.Unmount(target)
		os.Remove(target)
		done()
		close(cleaned)
	}()
	return &exportStream{PipeReader: pr, cleaned: cleaned}, nil
}

// exportStream is Export's tar; Close returns once the mount is gone and
// the container thawed, so that a process that exits right after does
// not leave them behind.
type exportStream struct {
	*io.PipeReader
	cleaned chan struct{}
}

func (s *exportStream) Close() error {
	err := s.PipeReader.Close()
	<-s.cleaned
	return err
}

// Commit stores the container's writable layer as a new image on its
// own, with the container's command, environment, working dir, user and
// labels, then opts.Changes, as docker commit does.
func (b *Backend) Commit(ctx context.Context, id string, opts engine.CommitOptions) (string, error) {
	r, done, err := b.holdLayer(ctx, id)
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	defer done()
	parent, err := b.store.Resolve(ctx, r.ImageID)
	if err != nil {
		return "", fmt.Errorf("commit %s: image: %w", r.Name, err)
	}
	cfg := *parent.Config.DeepCopy()
	cfg.Created = v1.Time{}
	cfg.Author = opts.Author
	c := &cfg.Config
	if ep := c.Entrypoint; len(ep) <= len(r.Spec.Args) && slices.Equal(ep, r.Spec.Args[:len(ep)]) {
		c.Cmd = slices.Clone(r.Spec.Args[len(ep):])
	} else {
		c.Entrypoint, c.Cmd = nil, slices.Clone(r.Spec.Args)
	}
	c.Env = slices.Clone(r.Spec.Env)
	c.WorkingDir, c.User = r.Spec.Cwd, r.Spec.User
	if len(r.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, r.Labels)
	}
	if err := image.ApplyChanges(c, opts.Changes); err != nil {
		return "", fmt.Errorf("commit %s: %w", r.Name, err)
	}
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		err := build.WriteLayer(pw, filepath.Join(b.layout.LayerDir(r.ID), "upper"))
		pw.CloseWithError(err)
		werr <- err
	}()
	newID, err := b.store.Commit(ctx, image.Commit{
		Ref: opts.Ref, Parent: r.ImageID, Config: cfg,
		Layers: []image.NewLayer{{Tar: pr, History: v1.History{
			CreatedBy: strings.Join(r.Spec.Args, " "), Comment: opts.Message, Author: opts.Author,
		}}},
	}, nil)
	pr.CloseWithError(errors.New("commit ended"))
	if err := errors.Join(err, <-werr); err != nil {
		return "", fmt.Errorf("commit %s: %w", r.Name, err)
	}
	return newID, nil
}

// holdLayer locks the container (no start, stop or removal meanwhile)
// and freezes it when it runs (see above); done undoes both, leaving a
// container that was paused before paused.
func (b *Backend) holdLayer(ctx context.Context, id string) (*store.Record, func(), error) {
	r, unlock, err := b.layout.LockRef(id)
	if err != nil {
		return nil, nil, err
	}
	st, started, err := b.layout.Status(r)
	if err != nil {
		unlock()
		return nil, nil, fmt.Errorf("%s: %w", r.Name, err)
	}
	if !started || st.Status != runtime.StatusRunning || runtime.Frozen(st.Pid) {
		return r, unlock, nil
	}
	if err := runtime.Freeze(ctx, st.Pid); err != nil {
		unlock()
		return nil, nil, fmt.Errorf("%s: %w", r.Name, err)
	}
	return r, func() {
		_ = runtime.Thaw(st.Pid)
		unlock()
	}, nil
}
