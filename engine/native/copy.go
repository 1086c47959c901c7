package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// StatPath describes path in the container's file system (see copyTarget).
func (b *Backend) StatPath(ctx context.Context, id, path string) (engine.PathStat, error) {
	t, r, release, err := b.copyTarget(ctx, id)
	if err != nil {
		return engine.PathStat{}, fmt.Errorf("stat %s: %w", path, err)
	}
	defer release()
	st, err := runtime.CopyStat(ctx, t, path)
	if err != nil {
		return engine.PathStat{}, fmt.Errorf("stat %s in %s: %w", path, r.Name, copyErr(err))
	}
	return pathStat(st), nil
}

// CopyFrom archives path in the container's file system.
func (b *Backend) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, engine.PathStat, error) {
	t, r, release, err := b.copyTarget(ctx, id)
	if err != nil {
		return nil, engine.PathStat{}, fmt.Errorf("copy %s: %w", path, err)
	}
	rc, st, err := runtime.CopyArchive(ctx, t, path)
	if err != nil {
		release()
		return nil, engine.PathStat{}, fmt.Errorf("copy %s from %s: %w", path, r.Name, copyErr(err))
	}
	return &releasingStream{ReadCloser: rc, release: release}, pathStat(st), nil
}

// CopyTo extracts content into dir in the container's file system; with
// CopyUIDGID the files belong to the container's user, as docker cp -a.
func (b *Backend) CopyTo(ctx context.Context, id, dir string, content io.Reader, opts engine.CopyToOptions) error {
	t, r, release, err := b.copyTarget(ctx, id)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dir, err)
	}
	defer release()
	if err := runtime.CopyExtract(ctx, t, dir, content, opts.CopyUIDGID, r.Spec.User); err != nil {
		return fmt.Errorf("copy to %s in %s: %w", dir, r.Name, copyErr(err))
	}
	return nil
}

// copyTarget says how the copy helper reaches the container's files, as
// the container sees them: a running container's mount namespace (its
// overlay is mounted only there, with its volumes, binds and tmpfs), or,
// for a stopped one, its layers, writable layer and mounts, which the
// helper mounts in a namespace of its own. A stopped container stays
// locked (no start, stop or removal) until release.
func (b *Backend) copyTarget(ctx context.Context, id string) (runtime.CopyTarget, *record, func(), error) {
	if r, err := b.load(id); err != nil {
		return runtime.CopyTarget{}, nil, nil, err
	} else if st, started, err := b.status(r); err == nil && started && st.Status == runtime.StatusRunning && st.Pid > 0 {
		return runtime.CopyTarget{Pid: st.Pid}, r, func() {}, nil
	}
	r, unlock, err := b.lockContainer(id)
	if err != nil {
		return runtime.CopyTarget{}, nil, nil, err
	}
	st, started, err := b.status(r)
	if err != nil {
		unlock()
		return runtime.CopyTarget{}, nil, nil, err
	}
	if started && st.Status == runtime.StatusRunning && st.Pid > 0 {
		// Started meanwhile.
		unlock()
		return runtime.CopyTarget{Pid: st.Pid}, r, func() {}, nil
	}
	layers := r.Layers
	if img, err := b.store.Resolve(ctx, r.ImageID); err == nil {
		layers = img.Layers
	}
	for _, l := range layers {
		if _, err := os.Stat(l); err != nil {
			unlock()
			return runtime.CopyTarget{}, nil, nil, fmt.Errorf("image %s (%s) is gone from the native store: %w", r.Image, r.ImageID, engine.ErrNotFound)
		}
	}
	dir := b.layerDir(r.ID)
	t := runtime.CopyTarget{Stopped: &runtime.CopyStopped{
		Rootfs:         filepath.Join(dir, "rootfs"),
		Overlay:        runtime.Overlay{Lowers: layers, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")},
		ReadonlyRootfs: r.Spec.ReadonlyRootfs,
		Mounts:         r.Spec.Mounts,
	}}
	return t, r, unlock, nil
}

// copyErr makes a path the container does not have an engine.ErrNotFound.
func copyErr(err error) error {
	if errors.Is(err, runtime.ErrCopyNotFound) {
		return notFound{err}
	}
	return err
}

type notFound struct{ error }

func (e notFound) Unwrap() error        { return e.error }
func (e notFound) Is(target error) bool { return target == engine.ErrNotFound }

// releasingStream releases the container when the archive is closed.
type releasingStream struct {
	io.ReadCloser
	release func()
}

func (s *releasingStream) Close() error {
	err := s.ReadCloser.Close()
	if s.release != nil {
		s.release()
		s.release = nil
	}
	return err
}

// pathStat turns a stat's st_mode into an os.FileMode, as the Engine
// API's stat reports it.
func pathStat(st runtime.FileStat) engine.PathStat {
	m := os.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= os.ModeDir
	case unix.S_IFLNK:
		m |= os.ModeSymlink
	case unix.S_IFCHR:
		m |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		m |= os.ModeDevice
	case unix.S_IFIFO:
		m |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= os.ModeSocket
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return engine.PathStat{Name: st.Name, Size: st.Size, Mode: m, Mtime: st.Mtime.In(time.UTC), LinkTarget: st.LinkTarget}
}
