package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// counter counts bytes written through it.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

func (s *Store) hasBlob(h v1.Hash) bool {
	_, err := os.Stat(s.blobPath(h))
	return err == nil
}

// writeBlob stores r as a blob. When want is non-zero the content must
// hash to it; a blob already present is not fetched again.
func (s *Store) writeBlob(r io.Reader, want v1.Hash) (v1.Hash, int64, error) {
	if want.Hex != "" {
		if fi, err := os.Stat(s.blobPath(want)); err == nil {
			return want, fi.Size(), nil
		}
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "blob-")
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("stage blob: %w", err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("write blob: %w", err)
	}
	got := sum(h)
	if want.Hex != "" && got != want {
		return v1.Hash{}, 0, fmt.Errorf("blob digest mismatch: got %s, want %s", got, want)
	}
	if err := os.Rename(f.Name(), s.blobPath(got)); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("store blob %s: %w", got, err)
	}
	s.wrote()
	return got, n, nil
}

func (s *Store) writeBlobBytes(b []byte, want v1.Hash) (v1.Hash, error) {
	h, _, err := s.writeBlob(bytes.NewReader(b), want)
	return h, err
}

// decompress sniffs gzip and zstd; anything else is taken as a plain tar.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read layer: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip layer: %w", err)
		}
		return zr, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("zstd layer: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

func (s *Store) hasLayer(diffID v1.Hash) bool {
	_, err := os.Stat(s.layerPath(diffID))
	return err == nil
}

// layerSize is the uncompressed tar size recorded when the layer was
// unpacked.
func (s *Store) layerSize(diffID v1.Hash) int64 {
	b, err := os.ReadFile(s.layerPath(diffID) + ".size")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// unpackLayer unpacks the uncompressed tar r into a staging dir and renames
// it to layers/sha256/<diff_id>. It returns the diff_id; when want is set
// the stream must hash to it. A layer unpacked meanwhile by someone else
// wins and ours is dropped, which is fine: same diff_id, same content.
func (s *Store) unpackLayer(ctx context.Context, r io.Reader, want v1.Hash, skip SkipFunc) (v1.Hash, int64, error) {
	stage, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "layer-")
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("stage layer: %w", err)
	}
	defer os.RemoveAll(stage)
	// The layer dir must be traversable by container users.
	if err := os.Chmod(stage, 0o755); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("stage layer: %w", err)
	}
	h := sha256.New()
	var n counter
	if err := Unpack(ctx, io.TeeReader(r, io.MultiWriter(h, &n)), stage, skip); err != nil {
		return v1.Hash{}, 0, err
	}
	got := sum(h)
	if want.Hex != "" && got != want {
		return v1.Hash{}, 0, fmt.Errorf("layer diff_id mismatch: got %s, want %s", got, want)
	}
	dst := s.layerPath(got)
	if err := os.WriteFile(dst+".size", []byte(strconv.FormatInt(n.n, 10)), 0o600); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("record layer size: %w", err)
	}
	if err := os.Rename(stage, dst); err != nil {
		if !s.hasLayer(got) {
			return v1.Hash{}, 0, fmt.Errorf("store layer %s: %w", got, err)
		}
	} else {
		s.wrote()
	}
	return got, n.n, nil
}

// unpackBlob unpacks a stored (possibly compressed) layer blob.
func (s *Store) unpackBlob(ctx context.Context, blob, diffID v1.Hash, skip SkipFunc) (int64, error) {
	f, err := os.Open(s.blobPath(blob))
	if err != nil {
		return 0, fmt.Errorf("open layer blob: %w", err)
	}
	defer f.Close()
	zr, err := decompress(f)
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	_, n, err := s.unpackLayer(ctx, zr, diffID, skip)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", blob, err)
	}
	return n, nil
}

// newLayer is a layer the store made itself: gzip blob plus unpacked dir.
type newLayer struct {
	diffID v1.Hash
	desc   v1.Descriptor
	size   int64 // uncompressed
}

// ingest takes an uncompressed (or compressed: it is sniffed) layer tar in
// one pass: it is unpacked, hashed for its diff_id, and gzipped into a
// blob, so a new layer is read once.
func (s *Store) ingest(ctx context.Context, r io.Reader, want v1.Hash, skip SkipFunc) (newLayer, error) {
	zr, err := decompress(r)
	if err != nil {
		return newLayer{}, err
	}
	defer zr.Close()
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "blob-")
	if err != nil {
		return newLayer{}, fmt.Errorf("stage blob: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bh := sha256.New()
	var bn counter
	gz := gzip.NewWriter(io.MultiWriter(f, bh, &bn))
	diffID, size, err := s.unpackLayer(ctx, io.TeeReader(zr, gz), want, skip)
	if err != nil {
		return newLayer{}, err
	}
	if err := gz.Close(); err != nil {
		return newLayer{}, fmt.Errorf("compress layer: %w", err)
	}
	if err := f.Sync(); err != nil {
		return newLayer{}, fmt.Errorf("write blob: %w", err)
	}
	digest := sum(bh)
	if err := os.Rename(f.Name(), s.blobPath(digest)); err != nil {
		return newLayer{}, fmt.Errorf("store blob %s: %w", digest, err)
	}
	s.wrote()
	return newLayer{
		diffID: diffID,
		size:   size,
		desc:   v1.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: digest, Size: bn.n},
	}, nil
}

// dirSize sums the sizes of the files under dir, not following symlinks.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
