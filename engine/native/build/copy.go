package build

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"github.com/ulikunitz/xz"

	"github.com/hoist-dev/hoist/engine/native/image"
)

type copyArgs struct {
	text     string
	sd       instructions.SourcesAndDest
	from     string
	chown    string
	chmod    string
	excludes []string
	parents  bool
	add      bool
	checksum string
	unpack   bool
}

// copy runs COPY or ADD.
func (j *job) copy(ctx context.Context, i int, st *state, a copyArgs, pfx string) error {
	name := "COPY"
	if a.add {
		name = "ADD"
	}
	if a.parents {
		return fmt.Errorf("--parents: %w", errUnsupported)
	}
	if a.checksum != "" {
		return fmt.Errorf("--checksum: %w", errUnsupported)
	}
	for _, s := range a.sd.SourcePaths {
		if a.add && (strings.Contains(s, "://") || strings.HasPrefix(s, "git@")) {
			return fmt.Errorf("remote source %q: %w", s, errUnsupported)
		}
	}
	var chmod *os.FileMode
	if a.chmod != "" {
		m, err := strconv.ParseUint(a.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("--chmod=%s: only octal modes are supported", a.chmod)
		}
		fm := os.FileMode(m & 0o777)
		if m&0o4000 != 0 {
			fm |= os.ModeSetuid
		}
		if m&0o2000 != 0 {
			fm |= os.ModeSetgid
		}
		if m&0o1000 != 0 {
			fm |= os.ModeSticky
		}
		chmod = &fm
	}

	// The sources' tree, and what of it goes into the cache key.
	var tree *srcTree
	var keyPart string
	var srcs []source
	var err error
	switch {
	case len(a.sd.SourceContents) > 0:
		dir, err := j.tmpDir("heredoc-")
		if err != nil {
			return err
		}
		j.cleanups = append(j.cleanups, func() { os.RemoveAll(dir) })
		var sb strings.Builder
		for _, c := range a.sd.SourceContents {
			if err := os.WriteFile(filepath.Join(dir, path.Base(c.Path)), []byte(c.Data), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&sb, "%s\x00%s\x00", c.Path, c.Data)
		}
		tree = &srcTree{root: dir, scoped: true, hash: j.b.hash}
		for _, c := range a.sd.SourceContents {
			s, err := tree.resolveOne(path.Base(c.Path), c.Path)
			if err != nil {
				return err
			}
			srcs = append(srcs, s)
		}
		keyPart = sb.String()
	case a.from != "":
		id, err := j.fromRef(ctx, i, a.from)
		if err != nil {
			return err
		}
		keyPart = "from " + id
	default:
		tree = j.ctxDir
		for _, s := range a.sd.SourcePaths {
			got, err := tree.resolve(s)
			if err != nil {
				return err
			}
			srcs = append(srcs, got...)
		}
		if keyPart, err = tree.digest(srcs); err != nil {
			return err
		}
	}
	dest, destDir := stepDest(a.sd.DestPath, st.workdir())
	nsrc := len(a.sd.SourcePaths) + len(a.sd.SourceContents)
	if nsrc > 1 || (len(a.sd.SourcePaths) == 1 && hasGlob(a.sd.SourcePaths[0])) {
		destDir = true
	}
	key := chainKey(st.key, a.text, keyPart, "excludes", strings.Join(a.excludes, "\x00"))
	return j.fsStep(ctx, st, key, a.text, pfx, func(rootfs string) error {
		if a.from != "" {
			// Sources from another stage or image are resolved only on
			// a miss, in its read-only rootfs.
			id, err := j.fromRef(ctx, i, a.from)
			if err != nil {
				return err
			}
			root, err := j.rootfsOf(ctx, id)
			if err != nil {
				return err
			}
			tree = &srcTree{root: root, scoped: true, hash: j.b.hash}
			for _, s := range a.sd.SourcePaths {
				got, err := tree.resolve(s)
				if err != nil {
					return err
				}
				srcs = append(srcs, got...)
			}
		}
		d, err := openDest(rootfs)
		if err != nil {
			return err
		}
		defer d.Close()
		o := copyOpts{chmod: chmod, keepOwner: a.from != "", skip: tree.skipFunc()}
		if a.chown != "" {
			if o.own, err = d.lookupOwner(a.chown); err != nil {
				return err
			}
		}
		if len(a.excludes) > 0 {
			pm, err := patternmatcher.New(a.excludes)
			if err != nil {
				return err
			}
			prev := o.skip
			o.skip = func(abs string, isDir bool) bool {
				if prev != nil && prev(abs, isDir) {
					return true
				}
				rel, err := filepath.Rel(tree.root, abs)
				m, _ := pm.MatchesOrParentMatches(rel)
				return err == nil && m
			}
		}
		for _, s := range srcs {
			if err := j.copyOne(d, s, dest, destDir, a, o); err != nil {
				return fmt.Errorf("%s %s: %w", name, s.name, err)
			}
		}
		return nil
	})
}

func (j *job) copyOne(d *destFS, s source, dest string, destDir bool, a copyArgs, o copyOpts) error {
	if s.info.IsDir() {
		dir, err := d.mkdirAll(dest, o.own)
		if err != nil {
			return err
		}
		defer dir.Close()
		return copyChildren(s.abs, dir.FD(), o)
	}
	if a.add && a.unpack && s.info.Mode().IsRegular() {
		if r, ok, err := archiveReader(s.abs); err != nil {
			return err
		} else if ok {
			defer r.Close()
			return j.extract(d, r, dest, o)
		}
	}
	target := dest
	if destDir || d.isDir(dest) {
		target = path.Join(dest, s.name)
	}
	dir, err := d.mkdirAll(path.Dir(target), o.own)
	if err != nil {
		return err
	}
	defer dir.Close()
	return copyEntry(s.abs, s.info, dir.FD(), path.Base(target), o)
}

// extract unpacks a local archive (ADD) into dest: first safely into a
// scratch dir, then copied over keeping the archive's owners.
func (j *job) extract(d *destFS, r io.Reader, dest string, o copyOpts) error {
	dir, err := j.tmpDir("add-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := image.Unpack(context.Background(), r, dir, nil); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	dst, err := d.mkdirAll(dest, o.own)
	if err != nil {
		return err
	}
	defer dst.Close()
	o.keepOwner, o.skip = true, nil
	return copyChildren(dir, dst.FD(), o)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// archiveReader opens p as a decompressed tar stream when it is a tar
// archive (plain, gzip, bzip2 or xz), as ADD unpacks those.
func archiveReader(p string) (io.ReadCloser, bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, false, err
	}
	br := bufio.NewReaderSize(f, 1024)
	head, _ := br.Peek(6)
	var r io.Reader
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, false, nil
		}
		r = gz
	case bytes.HasPrefix(head, []byte("BZh")):
		r = bzip2.NewReader(br)
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		xr, err := xz.NewReader(br)
		if err != nil {
			f.Close()
			return nil, false, nil
		}
		r = xr
	default:
		r = br
	}
	// A tar header has "ustar" at offset 257.
	tb := bufio.NewReaderSize(r, 1024)
	hdr, _ := tb.Peek(262)
	if len(hdr) < 262 || !bytes.Equal(hdr[257:262], []byte("ustar")) {
		f.Close()
		return nil, false, nil
	}
	return readCloser{tb, f}, true, nil
}

// fromRef resolves --from: a stage (built on demand) or an image. It
// returns an image ID ("" for a stage with no layers).
func (j *job) fromRef(ctx context.Context, cur int, ref string) (string, error) {
	if dep, ok := j.stageByName(strings.ToLower(ref), cur); ok {
		st, err := j.stage(ctx, dep)
		if err != nil {
			return "", err
		}
		if st.image == "" {
			return "scratch:" + st.key, nil
		}
		return st.image, nil
	}
	img, err := j.baseImage(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("--from=%s: %w", ref, err)
	}
	return img.ID, nil
}

// rootfsOf mounts image id read-only for the rest of the build.
func (j *job) rootfsOf(ctx context.Context, id string) (string, error) {
	if j.rootfses == nil {
		j.rootfses = map[string]string{}
	}
	if p, ok := j.rootfses[id]; ok {
		return p, nil
	}
	dir, err := j.tmpDir("from-")
	if err != nil {
		return "", err
	}
	target := filepath.Join(dir, "rootfs")
	// Never remove through a mount that is still there.
	j.cleanups = append(j.cleanups, func() {
		if image.Unmount(target) == nil {
			os.RemoveAll(dir)
		}
	})
	if strings.HasPrefix(id, "scratch:") {
		if err := os.Mkdir(target, 0o755); err != nil {
			return "", err
		}
		j.rootfses[id] = target
		return target, nil
	}
	img, err := j.b.store.Resolve(ctx, id)
	if err != nil {
		return "", err
	}
	if err := image.MountRootfs(img.Layers, "", "", target); err != nil {
		return "", err
	}
	j.rootfses[id] = target
	return target, nil
}
