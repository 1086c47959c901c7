package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hoist-dev/hoist/internal/userns"
	"golang.org/x/sys/unix"
)

// Problem is one thing Check found wrong in the store.
type Problem struct {
	// Path is the file or directory at fault.
	Path string
	// What says what is wrong.
	What string
	// Repaired says what Check did about it with repair, "" when nothing.
	Repaired string
}

// Check verifies the store: every blob against its digest, every index
// entry against its manifest, config and layers and, with full, every
// unpacked layer tree against its layer blob (whose uncompressed stream
// must hash to the diff ID). With repair it removes what cannot be
// trusted: a bad blob, an index entry whose image is incomplete (the
// image must be pulled or loaded again); a missing or altered layer tree
// whose blob is sound is unpacked again instead. What interrupted writes
// left in tmp/ is no problem (nothing references it); repair removes it. It holds gc.lock exclusively, so it waits for
// running pulls, loads and commits and sees no half-written state.
func (s *Store) Check(ctx context.Context, full, repair bool) ([]Problem, error) {
	unlock, err := s.lock(ctx, "gc.lock", unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c := &checker{s: s, repair: repair, bad: map[string]bool{}}
	if err := c.tmp(); err != nil {
		return c.problems, err
	}
	if err := c.blobs(ctx); err != nil {
		return c.problems, err
	}
	if err := c.index(ctx, full); err != nil {
		return c.problems, err
	}
	return c.problems, nil
}

type checker struct {
	s        *Store
	repair   bool
	problems []Problem
	// bad holds the digests of blobs found corrupt (removed with repair).
	bad map[string]bool
}

// add records a problem; fix, run only with repair, says what it did.
func (c *checker) add(p, what string, fix func() (string, error)) error {
	pr := Problem{Path: p, What: what}
	if c.repair && fix != nil {
		done, err := fix()
		if err != nil {
			return fmt.Errorf("repair %s: %w", p, err)
		}
		pr.Repaired = done
	}
	c.problems = append(c.problems, pr)
	return nil
}

// tmp removes, with repair, what interrupted writes left in tmp/ (no
// writer runs while gc.lock is held exclusively). Such leftovers are not
// problems: nothing references them, and GC removes them too.
func (c *checker) tmp() error {
	if !c.repair {
		return nil
	}
	dir := filepath.Join(c.s.root, "tmp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("check image store: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("repair image store: %w", err)
		}
	}
	return nil
}

// blobs hashes every blob.
func (c *checker) blobs(ctx context.Context) error {
	dir := filepath.Join(c.s.root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("check image store: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(dir, e.Name())
		got, err := hashFile(p)
		if err != nil {
			return fmt.Errorf("check blob %s: %w", p, err)
		}
		if got == e.Name() {
			continue
		}
		c.bad["sha256:"+e.Name()] = true
		if err := c.add(p, fmt.Sprintf("content hashes to sha256:%s, not its name", got), func() (string, error) {
			return "removed", os.Remove(p)
		}); err != nil {
			return err
		}
	}
	return nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// layerRef is a layer as an image has it: its blob and its diff ID.
type layerRef struct {
	blob, diffID v1.Hash
}

// index checks each entry's image; with full, the trees of the layers
// of sound images too.
func (c *checker) index(ctx context.Context, full bool) error {
	idx, err := c.s.readIndex()
	if err != nil {
		return c.add(c.s.IndexPath(), err.Error(), func() (string, error) {
			return "removed (every image must be pulled or loaded again)", os.Remove(c.s.IndexPath())
		})
	}
	refs := make([]string, 0, len(idx.Images))
	for k := range idx.Images {
		refs = append(refs, k)
	}
	sort.Strings(refs)
	var drop []string
	layers := map[v1.Hash]v1.Hash{} // diff ID -> blob, of sound images
	for _, ref := range refs {
		ls, why := c.image(idx.Images[ref])
		if why != "" {
			drop = append(drop, ref)
			if err := c.add(c.s.IndexPath(), fmt.Sprintf("image %s: %s", ref, why), func() (string, error) {
				return "image removed from the index (pull or load it again)", nil
			}); err != nil {
				return err
			}
			continue
		}
		for _, l := range ls {
			layers[l.diffID] = l.blob
		}
	}
	if c.repair && len(drop) > 0 {
		if err := c.s.updateIndex(ctx, func(idx *index) error {
			for _, ref := range drop {
				delete(idx.Images, ref)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("repair image index: %w", err)
		}
	}
	diffIDs := make([]v1.Hash, 0, len(layers))
	for d := range layers {
		diffIDs = append(diffIDs, d)
	}
	sort.Slice(diffIDs, func(i, j int) bool { return diffIDs[i].Hex < diffIDs[j].Hex })
	for _, d := range diffIDs {
		if err := ctx.Err(); err != nil {
			return err
		}
		blob := layers[d]
		dir := c.s.layerPath(d)
		why := ""
		if _, err := os.Lstat(dir); err != nil {
			why = "missing"
		} else if full {
			why, err = c.s.verifyTree(blob, d)
			if err != nil {
				return fmt.Errorf("check layer %s: %w", dir, err)
			}
		}
		if why == "" {
			continue
		}
		if err := c.add(dir, "layer "+why, func() (string, error) {
			if err := os.RemoveAll(dir); err != nil {
				return "", err
			}
			if _, err := c.s.unpackBlob(ctx, blob, d, nil); err != nil {
				return "", err
			}
			return "unpacked again from its blob", nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// image checks one index entry: its manifest and config blobs, which must
// agree, and its layer blobs. It returns the image's layers, or why it
// cannot be trusted. A missing layer tree is not the image's fault when
// its blob is sound: index unpacks it again.
func (c *checker) image(rec record) ([]layerRef, string) {
	if c.bad[rec.Manifest] {
		return nil, "manifest blob " + rec.Manifest + " is corrupt"
	}
	mf, err := c.s.manifest(rec.Manifest)
	if err != nil {
		return nil, err.Error()
	}
	if mf.Config.Digest.String() != rec.Config {
		return nil, fmt.Sprintf("manifest names config %s, the index %s", mf.Config.Digest, rec.Config)
	}
	if c.bad[rec.Config] {
		return nil, "config blob " + rec.Config + " is corrupt"
	}
	b, err := os.ReadFile(c.s.blobPath(mf.Config.Digest))
	if err != nil {
		return nil, "config blob: " + err.Error()
	}
	cfg, err := v1.ParseConfigFile(bytesReader(b))
	if err != nil {
		return nil, "config blob: " + err.Error()
	}
	if len(cfg.RootFS.DiffIDs) != len(mf.Layers) {
		return nil, fmt.Sprintf("config has %d diff IDs, manifest %d layers", len(cfg.RootFS.DiffIDs), len(mf.Layers))
	}
	var out []layerRef
	for i, l := range mf.Layers {
		if c.bad[l.Digest.String()] {
			return nil, "layer blob " + l.Digest.String() + " is corrupt"
		}
		if !c.s.hasBlob(l.Digest) {
			return nil, "layer blob " + l.Digest.String() + " is missing"
		}
		out = append(out, layerRef{blob: l.Digest, diffID: cfg.RootFS.DiffIDs[i]})
	}
	return out, ""
}

// want is what a layer tar says one path of the tree must be.
type want struct {
	typ    uint32 // unix.S_IFMT bits
	size   int64
	sum    string // regular files: sha256 of the content
	link   string // symlinks: the target; hard links: the other name
	opaque bool
}

// verifyTree compares the unpacked tree of diffID with its blob's tar as
// Unpack would have written it: every entry's type, a regular file's
// content, a link's target, whiteouts and opaque markers, and no entry
// the tar lacks. It returns "" when they agree, else what differs. The
// blob's uncompressed stream must hash to diffID.
func (s *Store) verifyTree(blob, diffID v1.Hash) (string, error) {
	f, err := os.Open(s.blobPath(blob))
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := decompress(f)
	if err != nil {
		return "", err
	}
	defer zr.Close()
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(zr, h))
	wants := map[string]*want{".": {typ: unix.S_IFDIR}}
	parents := func(name string) {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := wants[d]; !ok {
				wants[d] = &want{typ: unix.S_IFDIR}
			}
		}
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "blob is not a readable layer tar: " + err.Error(), nil
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return "", err
		}
		if name == "" {
			continue
		}
		parents(name)
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			dir = "."
		}
		switch {
		case base == whiteoutOpaque:
			wants[dir].opaque = true
			continue
		case strings.HasPrefix(base, whiteoutMeta):
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			wants[path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))] = &want{typ: unix.S_IFCHR}
			continue
		}
		w := &want{}
		switch hdr.Typeflag {
		case tar.TypeDir:
			w.typ = unix.S_IFDIR
			if old, ok := wants[name]; ok && old.typ == unix.S_IFDIR {
				w.opaque = old.opaque
			}
		case tar.TypeReg, tar.TypeGNUSparse:
			fh := sha256.New()
			n, err := io.Copy(fh, tr)
			if err != nil {
				return "blob is not a readable layer tar: " + err.Error(), nil
			}
			w.typ, w.size, w.sum = unix.S_IFREG, n, hex.EncodeToString(fh.Sum(nil))
		case tar.TypeSymlink:
			w.typ, w.link = unix.S_IFLNK, hdr.Linkname
		case tar.TypeLink:
			target, err := cleanName(hdr.Linkname)
			if err != nil {
				return "", err
			}
			if t, ok := wants[target]; ok {
				cp := *t
				cp.link = target
				w = &cp
			} else {
				continue // Unpack refuses it
			}
		case tar.TypeChar, tar.TypeBlock:
			if hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0 {
				w.typ = unix.S_IFCHR
			} else {
				continue // Unpack skips devices
			}
		case tar.TypeFifo:
			w.typ = unix.S_IFIFO
		default:
			continue
		}
		wants[name] = w
	}
	if _, err := io.Copy(h, zr); err != nil {
		return "blob is not a readable layer tar: " + err.Error(), nil
	}
	if got := sum(h); got != diffID {
		return fmt.Sprintf("blob %s uncompresses to %s, not the diff ID", blob, got), nil
	}
	root := s.layerPath(diffID)
	names := make([]string, 0, len(wants))
	for n := range wants {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if why := checkEntry(root, n, wants[n]); why != "" {
			return why, nil
		}
	}
	var extra string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if _, ok := wants[rel]; !ok {
			extra = rel
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if extra != "" {
		return "has /" + extra + ", which its blob lacks", nil
	}
	return "", nil
}

// checkEntry compares one path of the tree at root with w.
func checkEntry(root, name string, w *want) string {
	p := filepath.Join(root, name)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "lacks /" + name
		}
		return fmt.Sprintf("/%s: %v", name, err)
	}
	if st.Mode&unix.S_IFMT != w.typ {
		return fmt.Sprintf("/%s has the wrong type", name)
	}
	switch w.typ {
	case unix.S_IFREG:
		if st.Size != w.size {
			return fmt.Sprintf("/%s has %d bytes, its blob %d", name, st.Size, w.size)
		}
		got, err := hashFile(p)
		if err != nil {
			return fmt.Sprintf("/%s: %v", name, err)
		}
		if got != w.sum {
			return fmt.Sprintf("/%s differs from its blob", name)
		}
	case unix.S_IFLNK:
		if t, err := os.Readlink(p); err != nil || t != w.link {
			return fmt.Sprintf("/%s links elsewhere than in its blob", name)
		}
	case unix.S_IFCHR:
		if st.Rdev != 0 {
			return fmt.Sprintf("/%s is a device, not a whiteout", name)
		}
	case unix.S_IFDIR:
		if w.opaque {
			buf := make([]byte, 8)
			if n, err := unix.Lgetxattr(p, userns.Opaque(), buf); err != nil || string(buf[:n]) != "y" {
				return fmt.Sprintf("/%s lost its opaque marker", name)
			}
		}
	}
	return ""
}
