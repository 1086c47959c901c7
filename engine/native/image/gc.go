package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// GC removes blobs and unpacked layers that no indexed image references,
// and leftovers of interrupted writes, and returns the bytes freed.
// inUse names images (references or IDs) kept even if untagged: the
// engine passes the images of existing containers, whose rootfs mounts
// use the layer dirs. GC waits for running pulls, loads and commits.
func (s *Store) GC(ctx context.Context, inUse ...string) (int64, error) {
	unlock, err := s.lock(ctx, "gc.lock", unix.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	keepBlobs := map[string]bool{}
	keepLayers := map[string]bool{}
	mark := func(mfDigest string) error {
		mf, err := s.manifest(mfDigest)
		if err != nil {
			return err
		}
		keepBlobs[mfDigest] = true
		keepBlobs[mf.Config.Digest.String()] = true
		for _, l := range mf.Layers {
			keepBlobs[l.Digest.String()] = true
		}
		b, err := os.ReadFile(s.blobPath(mf.Config.Digest))
		if err != nil {
			return fmt.Errorf("config %s: %w", mf.Config.Digest, err)
		}
		cfg, err := v1.ParseConfigFile(bytesReader(b))
		if err != nil {
			return fmt.Errorf("config %s: %w", mf.Config.Digest, err)
		}
		for _, d := range cfg.RootFS.DiffIDs {
			keepLayers[d.Hex] = true
		}
		return nil
	}
	for _, rec := range idx.Images {
		if err := mark(rec.Manifest); err != nil {
			return 0, fmt.Errorf("gc: %w", err)
		}
	}
	for _, ref := range inUse {
		// An in-use image already removed from the index is only known
		// by ID, and its manifest may be any of those with that config.
		if _, rec, err := lookup(idx, ref); err == nil {
			if err := mark(rec.Manifest); err != nil {
				return 0, fmt.Errorf("gc: %w", err)
			}
			continue
		}
		if err := s.markByConfig(ref, mark); err != nil {
			return 0, fmt.Errorf("gc: %w", err)
		}
	}

	var freed int64
	blobs := filepath.Join(s.root, "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		return 0, fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if keepBlobs["sha256:"+e.Name()] {
			continue
		}
		if fi, err := e.Info(); err == nil {
			freed += fi.Size()
		}
		if err := os.Remove(filepath.Join(blobs, e.Name())); err != nil {
			return freed, fmt.Errorf("gc: %w", err)
		}
	}
	layers := filepath.Join(s.root, "layers", "sha256")
	ents, err = os.ReadDir(layers)
	if err != nil {
		return freed, fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if keepLayers[strings.TrimSuffix(e.Name(), ".size")] {
			continue
		}
		p := filepath.Join(layers, e.Name())
		freed += dirSize(p)
		if err := os.RemoveAll(p); err != nil {
			return freed, fmt.Errorf("gc: %w", err)
		}
	}
	// Writers hold gc.lock shared, so nothing in tmp is in use now.
	tmp := filepath.Join(s.root, "tmp")
	ents, err = os.ReadDir(tmp)
	if err != nil {
		return freed, fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(tmp, e.Name())
		freed += dirSize(p)
		if err := os.RemoveAll(p); err != nil {
			return freed, fmt.Errorf("gc: %w", err)
		}
	}
	return freed, nil
}

// markByConfig marks every stored manifest whose config is id.
func (s *Store) markByConfig(id string, mark func(string) error) error {
	if !strings.HasPrefix(id, "sha256:") {
		return nil
	}
	blobs := filepath.Join(s.root, "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		return err
	}
	for _, e := range ents {
		digest := "sha256:" + e.Name()
		mf, err := s.manifest(digest)
		if err != nil || mf.Config.Digest.String() != id {
			continue // not a manifest, or another image's
		}
		if err := mark(digest); err != nil {
			return err
		}
	}
	return nil
}
