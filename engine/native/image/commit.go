package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NewLayer is one step of a Commit: a layer tar (uncompressed, or gzip or
// zstd) and its history entry. A nil Tar records a history entry with no
// layer (ENV, CMD, ... in a Dockerfile).
type NewLayer struct {
	Tar     io.Reader
	History v1.History
}

// Commit describes a new image built on an optional parent.
type Commit struct {
	// Ref tags the image; empty leaves it untagged (reachable by ID).
	Ref string
	// Parent is a reference or ID whose layers and history come first.
	Parent string
	// Config is the new image's config. RootFS and History are replaced:
	// they are derived from the parent and Layers so they stay consistent.
	// Empty OS and Architecture default to the host's; a zero Created to now.
	Config v1.ConfigFile
	Layers []NewLayer
}

// Commit stores a new image and returns its ID. Each layer is unpacked
// once as it is read, so the image is ready to run when Commit returns.
func (s *Store) Commit(ctx context.Context, c Commit, skip SkipFunc) (string, error) {
	unlock, err := s.writer(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()

	cfg := c.Config.DeepCopy()
	cfg.RootFS = v1.RootFS{Type: "layers"}
	cfg.History = nil
	var base []v1.Descriptor
	if c.Parent != "" {
		parent, err := s.Resolve(ctx, c.Parent)
		if err != nil {
			return "", fmt.Errorf("commit: parent: %w", err)
		}
		mf, err := s.manifest(parent.Digest)
		if err != nil {
			return "", fmt.Errorf("commit: parent: %w", err)
		}
		base = mf.Layers
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, parent.Config.RootFS.DiffIDs...)
		cfg.History = append(cfg.History, parent.Config.History...)
	}
	if cfg.OS == "" {
		cfg.OS = "linux"
	}
	if cfg.Architecture == "" {
		cfg.Architecture = runtime.GOARCH
	}
	if cfg.Created.IsZero() {
		cfg.Created = v1.Time{Time: time.Now().UTC()}
	}
	var layers []newLayer
	for i, l := range c.Layers {
		hist := l.History
		if hist.Created.IsZero() {
			hist.Created = cfg.Created
		}
		if l.Tar == nil {
			hist.EmptyLayer = true
			cfg.History = append(cfg.History, hist)
			continue
		}
		hist.EmptyLayer = false
		nl, err := s.ingest(ctx, l.Tar, v1.Hash{}, skip)
		if err != nil {
			return "", fmt.Errorf("commit: layer %d: %w", i, err)
		}
		layers = append(layers, nl)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, nl.diffID)
		cfg.History = append(cfg.History, hist)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("commit: encode config: %w", err)
	}
	var refs []string
	if c.Ref != "" {
		refs = []string{c.Ref}
	}
	return s.finish(ctx, refs, raw, types.OCIConfigJSON, base, layers)
}

// finish writes the config and a manifest for base+layers and indexes it
// under refs (or under its ID when refs is empty).
func (s *Store) finish(ctx context.Context, refs []string, rawCfg []byte, cfgType types.MediaType, base []v1.Descriptor, layers []newLayer) (string, error) {
	cfgHash, err := s.writeBlobBytes(rawCfg, v1.Hash{})
	if err != nil {
		return "", err
	}
	mf := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: cfgType, Digest: cfgHash, Size: int64(len(rawCfg))},
		Layers:        append([]v1.Descriptor(nil), base...),
	}
	for _, l := range layers {
		mf.Layers = append(mf.Layers, l.desc)
	}
	rawMf, err := json.Marshal(mf)
	if err != nil {
		return "", fmt.Errorf("encode manifest: %w", err)
	}
	mfHash, err := s.writeBlobBytes(rawMf, v1.Hash{})
	if err != nil {
		return "", err
	}
	if err := s.index(ctx, refs, mfHash, rawCfg); err != nil {
		return "", err
	}
	return cfgHash.String(), nil
}

// index records refs -> manifest; the config gives the ID, the creation
// time and (through the layers' size files) the unpacked size.
func (s *Store) index(ctx context.Context, refs []string, mfHash v1.Hash, rawCfg []byte) error {
	cfg, err := v1.ParseConfigFile(bytesReader(rawCfg))
	if err != nil {
		return fmt.Errorf("parse config: %w", err)
	}
	cfgHash, _, err := v1.SHA256(bytesReader(rawCfg))
	if err != nil {
		return err
	}
	rec := record{Manifest: mfHash.String(), Config: cfgHash.String(), Created: cfg.Created.Time}
	for _, d := range cfg.RootFS.DiffIDs {
		rec.Size += s.layerSize(d)
	}
	keys := make([]string, 0, len(refs))
	for _, ref := range refs {
		r, err := parseRef(ref)
		if err != nil {
			return err
		}
		keys = append(keys, r.Name())
	}
	if len(keys) == 0 {
		keys = []string{rec.Config}
	}
	return s.updateIndex(ctx, func(idx *index) error {
		for _, k := range keys {
			idx.Images[k] = rec
		}
		return nil
	})
}

func (s *Store) manifest(digest string) (*v1.Manifest, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, fmt.Errorf("manifest digest: %w", err)
	}
	f, err := os.Open(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	defer f.Close()
	mf, err := v1.ParseManifest(f)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	return mf, nil
}

// Import stores a root filesystem tar as a one-layer image, like docker
// import. changes are Dockerfile-like instructions applied to the config.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, changes []string) (string, error) {
	cfg := v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH}
	if err := applyChanges(&cfg.Config, changes); err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	return s.Commit(ctx, Commit{
		Ref:    ref,
		Config: cfg,
		Layers: []NewLayer{{Tar: r, History: v1.History{CreatedBy: "hoist import", Comment: "Imported from tarball"}}},
	}, nil)
}
