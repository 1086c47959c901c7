package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/hoist-dev/hoist/engine"
)

// LoadImages loads a `docker save` archive and returns the references the
// daemon reported.
func (b *Backend) LoadImages(ctx context.Context, r io.Reader, progress func(string)) ([]string, error) {
	resp, err := b.api.ImageLoad(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", mapErr(err))
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if err := readMessages(io.TeeReader(resp.Body, &out), progress, nil); err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	var refs []string
	for _, line := range strings.Split(out.String(), "\n") {
		var m struct {
			Stream string `json:"stream"`
		}
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		for _, prefix := range []string{"Loaded image: ", "Loaded image ID: "} {
			if ref, ok := strings.CutPrefix(strings.TrimSpace(m.Stream), prefix); ok {
				refs = append(refs, ref)
			}
		}
	}
	return refs, nil
}

// ImportImage creates an image from a rootfs tarball with Dockerfile-style
// changes, like `docker import`.
func (b *Backend) ImportImage(ctx context.Context, r io.Reader, ref string, changes []string) (string, error) {
	rc, err := b.api.ImageImport(ctx, image.ImportSource{Source: r, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		return "", fmt.Errorf("import %s: %w", ref, mapErr(err))
	}
	defer rc.Close()
	if err := readMessages(rc, nil, nil); err != nil {
		return "", fmt.Errorf("import %s: %w", ref, err)
	}
	return b.ImageID(ctx, ref)
}

// ListImages lists every tagged image.
func (b *Backend) ListImages(ctx context.Context) ([]engine.ImageSummary, error) {
	list, err := b.api.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", mapErr(err))
	}
	var out []engine.ImageSummary
	for _, im := range list {
		for _, tag := range im.RepoTags {
			out = append(out, engine.ImageSummary{Ref: tag, ID: im.ID, Size: im.Size, Created: time.Unix(im.Created, 0)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}
