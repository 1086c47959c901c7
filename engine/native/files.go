package native

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/launch"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/rootfswrite"
)

// Files in and out of containers: hoist cp (StatPath, CopyFrom, CopyTo)
// and watch's sync (Sync), through the runtime's copy helper, which works
// as the container sees its files.

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
func (b *Backend) copyTarget(ctx context.Context, id string) (runtime.CopyTarget, *store.Record, func(), error) {
	if r, err := b.layout.LoadRef(id); err != nil {
		return runtime.CopyTarget{}, nil, nil, err
	} else if st, started, err := b.layout.Status(r); err == nil && started && st.Status == runtime.StatusRunning && st.Pid > 0 {
		return runtime.CopyTarget{Pid: st.Pid}, r, func() {}, nil
	}
	r, unlock, err := b.layout.LockRef(id)
	if err != nil {
		return runtime.CopyTarget{}, nil, nil, err
	}
	st, started, err := b.layout.Status(r)
	if err != nil {
		unlock()
		return runtime.CopyTarget{}, nil, nil, err
	}
	if started && st.Status == runtime.StatusRunning && st.Pid > 0 {
		// Started meanwhile.
		unlock()
		return runtime.CopyTarget{Pid: st.Pid}, r, func() {}, nil
	}
	layers := b.layers(ctx, r)
	if err := launch.CheckLayers(r, layers); err != nil {
		unlock()
		return runtime.CopyTarget{}, nil, nil, err
	}
	dir := b.layout.LayerDir(r.ID)
	t := runtime.CopyTarget{Stopped: &runtime.CopyStopped{
		Rootfs:         b.layout.Rootfs(r.ID),
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

// Sync writes the changes into the running container as it sees its
// files: in its mount namespace (by the copy helper, see runtime.CopySync),
// so a rule's target under a volume lands in the volume, and nothing
// depends on the overlay being mounted on the host. The host files travel
// as one tar stream; internal/rootfswrite applies them there.
func (b *Backend) Sync(ctx context.Context, id string, changes []engine.SyncChange) error {
	r, st, err := b.running(id)
	if r == nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", r.Name, err)
	}
	ops := make([]rootfswrite.Change, len(changes))
	for i, c := range changes {
		ops[i] = rootfswrite.Change{Path: c.ContainerPath, Root: c.Root, Deleted: c.Deleted}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeSyncTar(pw, changes)) }()
	err = runtime.CopySync(ctx, runtime.CopyTarget{Pid: st.Pid}, ops, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return fmt.Errorf("sync %s: %w", r.Name, err)
	}
	return nil
}

// writeSyncTar writes the content of each change that is not a deletion,
// named by its index; a host file gone since the event has no entry.
func writeSyncTar(w io.Writer, changes []engine.SyncChange) error {
	tw := tar.NewWriter(w)
	for i, c := range changes {
		if c.Deleted {
			continue
		}
		if err := writeSyncEntry(tw, strconv.Itoa(i), c.HostPath); err != nil {
			return fmt.Errorf("%s: %w", c.HostPath, err)
		}
	}
	return tw.Close()
}

func writeSyncEntry(tw *tar.Writer, name, hostPath string) error {
	content, done, err := rootfswrite.HostContent(hostPath)
	if err != nil || content == nil {
		return err
	}
	defer done()
	hdr := &tar.Header{Name: name, Mode: int64(content.Mode.Perm()), Format: tar.FormatPAX}
	switch {
	case content.Mode&os.ModeSymlink != 0:
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, content.Link
	case content.Mode.IsDir():
		hdr.Typeflag = tar.TypeDir
	default:
		f, ok := content.Data.(*os.File)
		if !ok {
			return fmt.Errorf("no file to read")
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg {
		// The header promised Size bytes: a file that grew is cut
		// there (the next event syncs it again).
		if _, err := io.CopyN(tw, content.Data, hdr.Size); err != nil {
			return err
		}
	}
	return nil
}
