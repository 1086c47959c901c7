package native

import (
	"context"
	"io"

	"github.com/hoist-dev/hoist/engine"
)

var (
	_ engine.ImageLoader   = (*Backend)(nil)
	_ engine.ImageImporter = (*Backend)(nil)
	_ engine.ImageLister   = (*Backend)(nil)
)

// LoadImages loads a `docker save` or OCI layout archive into the store.
func (b *Backend) LoadImages(ctx context.Context, r io.Reader, progress func(string)) ([]string, error) {
	return b.Store().Load(ctx, r, progress)
}

// ImportImage creates an image from a rootfs tarball, like `docker import`.
func (b *Backend) ImportImage(ctx context.Context, r io.Reader, ref string, changes []string) (string, error) {
	return b.Store().Import(ctx, r, ref, changes)
}

// ListImages lists the store's images.
func (b *Backend) ListImages(ctx context.Context) ([]engine.ImageSummary, error) {
	list, err := b.Store().List()
	if err != nil {
		return nil, err
	}
	out := make([]engine.ImageSummary, 0, len(list))
	for _, s := range list {
		out = append(out, engine.ImageSummary{Ref: s.Ref, ID: s.ID, Size: s.Size, Created: s.Created})
	}
	return out, nil
}
