package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/internal/rootfswrite"
)

// Sync writes the changes into the container. When dockerd runs on this
// host with overlay2 and nothing is mounted over the rules' targets, it
// writes straight into the container's merged directory, as the native
// engine does (no API round trip: the copy API alone costs 100-300 ms on
// Engine 20.10). Otherwise it copies one tar stream through the Engine's
// copy API (no tar needed in the image) and deletes with one exec of rm;
// directories between a rule's root and a file are checked first, since a
// symlink there could redirect the write outside the rule's target.
func (b *Backend) Sync(ctx context.Context, id string, changes []engine.SyncChange) error {
	if dir := b.localMergedDir(ctx, id, changes); dir != "" {
		rc := make([]rootfswrite.Change, len(changes))
		for i, c := range changes {
			rc[i] = rootfswrite.Change{Path: c.ContainerPath, Root: c.Root, Deleted: c.Deleted, HostPath: c.HostPath}
		}
		if err := rootfswrite.Apply(ctx, dir, rc); err != nil {
			return fmt.Errorf("sync into %s: %w", id, err)
		}
		return nil
	}
	return b.syncThroughAPI(ctx, id, changes)
}

// localMergedDir is the container's overlay2 merged directory when this
// process can write it and no mount covers a change's root (a write there
// would land under the mount, invisible to the container); "" otherwise.
func (b *Backend) localMergedDir(ctx context.Context, id string, changes []engine.SyncChange) string {
	c, err := b.api.ContainerInspect(ctx, id)
	if err != nil || c.GraphDriver.Name != "overlay2" || c.State == nil || !c.State.Running {
		return ""
	}
	dir := c.GraphDriver.Data["MergedDir"]
	if dir == "" || unix.Access(dir, unix.W_OK) != nil {
		return ""
	}
	for _, m := range c.Mounts {
		for _, ch := range changes {
			root := ch.Root
			if root == "" {
				root = path.Dir(ch.ContainerPath)
			}
			if within(m.Destination, root) || within(root, m.Destination) {
				return ""
			}
		}
	}
	return dir
}

func (b *Backend) syncThroughAPI(ctx context.Context, id string, changes []engine.SyncChange) error {
	var writes, deletes []engine.SyncChange
	for _, c := range changes {
		if !path.IsAbs(c.ContainerPath) || (c.Root != "" && !within(c.Root, c.ContainerPath)) {
			return fmt.Errorf("sync %s: %q is not under %q", id, c.ContainerPath, c.Root)
		}
		if c.Deleted {
			deletes = append(deletes, c)
		} else {
			writes = append(writes, c)
		}
	}
	if err := b.checkParents(ctx, id, changes); err != nil {
		return err
	}
	if len(writes) > 0 {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeSyncTar(pw, writes)) }()
		err := b.api.CopyToContainer(ctx, id, "/", pr, container.CopyToContainerOptions{AllowOverwriteDirWithFile: true})
		pr.CloseWithError(err)
		if err != nil {
			return fmt.Errorf("sync %d files into %s: %w", len(writes), id, mapErr(err))
		}
	}
	if len(deletes) > 0 {
		args := []string{"rm", "-rf", "--"}
		for _, d := range deletes {
			args = append(args, d.ContainerPath)
		}
		code, err := b.Exec(ctx, id, engine.ExecSpec{Cmd: args, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			return fmt.Errorf("sync: delete %d paths in %s: %w", len(deletes), id, err)
		}
		if code != 0 {
			return fmt.Errorf("sync: rm exited with %d in %s (is rm in the image?)", code, id)
		}
	}
	return nil
}

func within(root, p string) bool {
	root = path.Clean(root)
	p = path.Clean(p)
	return p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

// checkParents refuses a change whose directories below its root include a
// symlink in the container.
func (b *Backend) checkParents(ctx context.Context, id string, changes []engine.SyncChange) error {
	dirs := map[string]bool{}
	for _, c := range changes {
		if c.Root == "" {
			continue
		}
		for d := path.Dir(c.ContainerPath); within(c.Root, d) && d != path.Clean(c.Root); d = path.Dir(d) {
			dirs[d] = true
		}
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	sort.Strings(list)
	for _, d := range list {
		st, err := b.api.ContainerStatPath(ctx, id, d)
		if err != nil {
			if isNotFound(mapErr(err)) {
				continue // created by the copy as a real directory
			}
			return fmt.Errorf("sync: stat %s in %s: %w", d, id, mapErr(err))
		}
		if st.Mode&os.ModeSymlink != 0 || st.LinkTarget != "" && st.LinkTarget != d {
			return fmt.Errorf("sync: %s in %s is a symlink (to %s); refusing to write through it", d, id, st.LinkTarget)
		}
	}
	return nil
}

func writeSyncTar(w io.Writer, writes []engine.SyncChange) error {
	tw := tar.NewWriter(w)
	for _, c := range writes {
		if err := addSyncFile(tw, c); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addSyncFile(tw *tar.Writer, c engine.SyncChange) error {
	// Lstat: a symlink in the source tree is copied as a link, never
	// followed to read a file outside the tree.
	fi, err := os.Lstat(c.HostPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // deleted since the event; the next batch syncs that
		}
		return fmt.Errorf("sync: %w", err)
	}
	link := ""
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(c.HostPath); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("sync: %s: %w", c.HostPath, err)
	}
	hdr.Name = strings.TrimPrefix(c.ContainerPath, "/")
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(c.HostPath)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	defer f.Close()
	_, err = io.Copy(tw, io.LimitReader(f, hdr.Size))
	return err
}
