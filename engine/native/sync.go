package native

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/rootfswrite"
)

// Sync writes the changes into the running container as it sees its
// files: in its mount namespace (by the copy helper, see runtime.CopySync),
// so a rule's target under a volume lands in the volume, and nothing
// depends on the overlay being mounted on the host. The host files travel
// as one tar stream; internal/rootfswrite applies them there.
func (b *Backend) Sync(ctx context.Context, id string, changes []engine.SyncChange) error {
	r, err := b.load(id)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	st, started, err := b.status(r)
	if err != nil {
		return fmt.Errorf("sync %s: %w", r.Name, err)
	}
	if !started || st.Status != runtime.StatusRunning || st.Pid <= 0 {
		return fmt.Errorf("sync %s: it is not running: %w", r.Name, engine.ErrConflict)
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
