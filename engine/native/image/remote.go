package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func hostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

func remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(hostPlatform()),
	}
}

// Pull fetches ref from its registry (Docker Hub by default, plain HTTP
// for loopback registries, credentials from ~/.docker/config.json),
// choosing linux/<host arch> from a multi-arch index, and unpacks each
// new layer. Layers already present are neither fetched nor unpacked.
func (s *Store) Pull(ctx context.Context, ref string, progress func(string)) error {
	if progress == nil {
		progress = func(string) {}
	}
	r, err := parseRef(ref)
	if err != nil {
		return err
	}
	unlock, err := s.writer(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	progress(fmt.Sprintf("pulling %s", r.Name()))
	desc, err := remote.Get(r, remoteOptions(ctx)...)
	if err != nil {
		return fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	img, err := desc.Image()
	if err != nil {
		return fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	if _, err := s.storeImage(ctx, img, []string{r.Name()}, progress); err != nil {
		return fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	progress(fmt.Sprintf("pulled %s", r.Name()))
	return nil
}

// storeImage keeps img's manifest, config and layer blobs byte for byte
// (so digests match the source), unpacks each layer, and indexes refs.
// The caller holds the writer lock.
func (s *Store) storeImage(ctx context.Context, img v1.Image, refs []string, progress func(string)) (string, error) {
	rawMf, err := img.RawManifest()
	if err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	mf, err := v1.ParseManifest(bytesReader(rawMf))
	if err != nil {
		return "", fmt.Errorf("parse manifest: %w", err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	cfg, err := v1.ParseConfigFile(bytesReader(rawCfg))
	if err != nil {
		return "", fmt.Errorf("parse config: %w", err)
	}
	if len(mf.Layers) != len(cfg.RootFS.DiffIDs) {
		return "", fmt.Errorf("%d layers but %d diff_ids", len(mf.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, ld := range mf.Layers {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		diffID := cfg.RootFS.DiffIDs[i]
		if s.hasBlob(ld.Digest) && s.hasLayer(diffID) {
			progress(fmt.Sprintf("%s: already exists", short(ld.Digest)))
			continue
		}
		progress(fmt.Sprintf("%s: downloading %d bytes", short(ld.Digest), ld.Size))
		if err := s.fetchBlob(img, ld.Digest); err != nil {
			return "", err
		}
		progress(fmt.Sprintf("%s: unpacking", short(ld.Digest)))
		if _, err := s.unpackBlob(ctx, ld.Digest, diffID, nil); err != nil {
			return "", err
		}
	}
	if _, err := s.writeBlobBytes(rawCfg, mf.Config.Digest); err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	mfHash, err := s.writeBlobBytes(rawMf, v1.Hash{})
	if err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	if err := s.index(ctx, refs, mfHash, rawCfg); err != nil {
		return "", err
	}
	return mf.Config.Digest.String(), nil
}

func (s *Store) fetchBlob(img v1.Image, digest v1.Hash) error {
	l, err := img.LayerByDigest(digest)
	if err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	defer rc.Close()
	if _, _, err := s.writeBlob(rc, digest); err != nil {
		return fmt.Errorf("layer %s: %w", digest, err)
	}
	return nil
}

// Push uploads the local image ref to its registry, under the same name.
func (s *Store) Push(ctx context.Context, ref string, progress func(string)) error {
	if progress == nil {
		progress = func(string) {}
	}
	img, err := s.Resolve(ctx, ref)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	r, err := parseRef(img.Ref)
	if err != nil {
		return fmt.Errorf("push: image %s has no reference to push to: %w", ref, err)
	}
	vimg, err := s.v1Image(img)
	if err != nil {
		return fmt.Errorf("push %s: %w", r.Name(), err)
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := int64(-1)
		for u := range updates {
			// Report in tenths, not on every chunk.
			if u.Total > 0 && u.Complete*10/u.Total != last {
				last = u.Complete * 10 / u.Total
				progress(fmt.Sprintf("pushing %s: %d/%d bytes", r.Name(), u.Complete, u.Total))
			}
		}
	}()
	opts := append(remoteOptions(ctx), remote.WithProgress(updates))
	err = remote.Write(r, vimg, opts...)
	<-done
	if err != nil {
		return fmt.Errorf("push %s: %w", r.Name(), err)
	}
	progress(fmt.Sprintf("pushed %s", r.Name()))
	return nil
}

// v1Image exposes a stored image to go-containerregistry.
func (s *Store) v1Image(img *Image) (v1.Image, error) {
	h, err := v1.NewHash(img.Digest)
	if err != nil {
		return nil, err
	}
	rawMf, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	mf, err := v1.ParseManifest(bytesReader(rawMf))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return partial.CompressedToImage(&storedImage{s: s, rawMf: rawMf, mf: mf})
}

type storedImage struct {
	s     *Store
	rawMf []byte
	mf    *v1.Manifest
}

func (i *storedImage) RawManifest() ([]byte, error) { return i.rawMf, nil }

func (i *storedImage) MediaType() (types.MediaType, error) {
	if i.mf.MediaType != "" {
		return i.mf.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (i *storedImage) RawConfigFile() ([]byte, error) {
	return os.ReadFile(i.s.blobPath(i.mf.Config.Digest))
}

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.mf.Config.Digest {
		return &storedBlob{s: i.s, desc: i.mf.Config}, nil
	}
	for _, l := range i.mf.Layers {
		if l.Digest == h {
			return &storedBlob{s: i.s, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not in the manifest", h)
}

type storedBlob struct {
	s    *Store
	desc v1.Descriptor
}

func (b *storedBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *storedBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *storedBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
func (b *storedBlob) Compressed() (io.ReadCloser, error) {
	return os.Open(b.s.blobPath(b.desc.Digest))
}
