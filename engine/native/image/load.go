package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Load stores the images of a `docker save` tarball or an OCI image
// layout archive and returns the references it loaded (an image's ID when
// it has no name). A docker save tarball from Docker 25+ is both; its
// manifest.json wins because it carries the tags.
func (s *Store) Load(ctx context.Context, r io.Reader, progress func(string)) ([]string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	unlock, err := s.writer(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The archive is untrusted: it is unpacked with the same rules as a
	// layer, then only read through an os.Root, which refuses symlinks
	// leading out of it.
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "load-")
	if err != nil {
		return nil, fmt.Errorf("load: stage: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := Unpack(ctx, r, dir, nil); err != nil {
		return nil, fmt.Errorf("load: unpack archive: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer root.Close()
	if _, err := root.Stat("manifest.json"); err == nil {
		return s.loadDocker(ctx, root, progress)
	}
	if _, err := root.Stat("oci-layout"); err == nil {
		if err := noSymlinks(dir); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		return s.loadOCI(ctx, dir, progress)
	}
	return nil, fmt.Errorf("load: neither a docker save tarball (manifest.json) nor an OCI layout (oci-layout)")
}

// dockerManifest is one entry of a docker save manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (s *Store) loadDocker(ctx context.Context, root *os.Root, progress func(string)) ([]string, error) {
	b, err := root.ReadFile("manifest.json")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var entries []dockerManifest
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("load: parse manifest.json: %w", err)
	}
	var loaded []string
	for _, e := range entries {
		rawCfg, err := root.ReadFile(e.Config)
		if err != nil {
			return loaded, fmt.Errorf("load: config: %w", err)
		}
		cfg, err := v1.ParseConfigFile(bytesReader(rawCfg))
		if err != nil {
			return loaded, fmt.Errorf("load: parse config %s: %w", e.Config, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
			return loaded, fmt.Errorf("load: %s: %d layers but %d diff_ids", e.Config, len(e.Layers), len(cfg.RootFS.DiffIDs))
		}
		var layers []newLayer
		for i, p := range e.Layers {
			progress(fmt.Sprintf("loading layer %s", short(cfg.RootFS.DiffIDs[i])))
			f, err := root.Open(p)
			if err != nil {
				return loaded, fmt.Errorf("load: layer: %w", err)
			}
			nl, err := s.ingest(ctx, f, cfg.RootFS.DiffIDs[i], nil)
			f.Close()
			if err != nil {
				return loaded, fmt.Errorf("load: layer %s: %w", p, err)
			}
			layers = append(layers, nl)
		}
		// The config is kept byte for byte, so the image ID is Docker's.
		id, err := s.finish(ctx, e.RepoTags, rawCfg, types.OCIConfigJSON, nil, layers)
		if err != nil {
			return loaded, fmt.Errorf("load: %w", err)
		}
		if len(e.RepoTags) == 0 {
			loaded = append(loaded, id)
		}
		loaded = append(loaded, e.RepoTags...)
	}
	return loaded, nil
}

// OCI annotations naming an image in an index.
const (
	annotationRefName       = "org.opencontainers.image.ref.name"
	annotationContainerName = "io.containerd.image.name"
)

func (s *Store) loadOCI(ctx context.Context, dir string, progress func(string)) ([]string, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("load: OCI layout: %w", err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("load: OCI index: %w", err)
	}
	var loaded []string
	for _, desc := range im.Manifests {
		img, err := imageFor(ii, desc)
		if err != nil {
			return loaded, fmt.Errorf("load: %w", err)
		}
		var refs []string
		if ref := ociRefName(desc.Annotations); ref != "" {
			refs = []string{ref}
		}
		id, err := s.storeImage(ctx, img, refs, progress)
		if err != nil {
			return loaded, fmt.Errorf("load: %w", err)
		}
		if len(refs) == 0 {
			refs = []string{id}
		}
		loaded = append(loaded, refs...)
	}
	return loaded, nil
}

// ociRefName picks a full reference from an index entry's annotations.
// A bare ref.name such as "latest" is only a tag and names nothing alone.
func ociRefName(a map[string]string) string {
	if n := a[annotationContainerName]; n != "" {
		return n
	}
	if n := a[annotationRefName]; strings.ContainsAny(n, "/:") {
		if _, err := parseRef(n); err == nil {
			return n
		}
	}
	return ""
}

// noSymlinks refuses a tree holding any symlink: an OCI layout never
// needs one, and ggcr's layout reader opens paths directly.
func noSymlinks(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: symlink %s in OCI layout", ErrUnsafe, strings.TrimPrefix(p, dir))
		}
		return nil
	})
}

// imageFor returns the image desc names, choosing the host platform in a
// nested index.
func imageFor(ii v1.ImageIndex, desc v1.Descriptor) (v1.Image, error) {
	switch {
	case desc.MediaType.IsImage():
		return ii.Image(desc.Digest)
	case desc.MediaType.IsIndex():
		child, err := ii.ImageIndex(desc.Digest)
		if err != nil {
			return nil, err
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, err
		}
		want := hostPlatform()
		for _, d := range cm.Manifests {
			if d.Platform != nil && d.Platform.Satisfies(want) && d.MediaType.IsImage() {
				return child.Image(d.Digest)
			}
		}
		return nil, fmt.Errorf("index %s has no image for %s", desc.Digest, want)
	}
	return nil, errors.New("unsupported manifest media type " + string(desc.MediaType))
}

func short(h v1.Hash) string {
	if len(h.Hex) > 12 {
		return h.Hex[:12]
	}
	return h.Hex
}
