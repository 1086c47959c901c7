package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/internal/atomicfile"
)

// DefaultRoot is where the native engine keeps images.
const DefaultRoot = "/var/lib/hoist"

// Store is an image store rooted at a directory. It is safe for concurrent
// use by goroutines and by several processes sharing the root.
type Store struct {
	root string
	// configs holds parsed config files by digest: content-addressed, so
	// never stale. One "run" resolves its image three times.
	configs sync.Map // v1.Hash -> *v1.ConfigFile
	// indexCache is the last index.json parsed, for readers: a 20-service
	// up resolves images some 50 times, and a store of a few dozen images
	// has an index of tens of KB. Reading it is cheap; parsing is not.
	indexCache struct {
		sync.Mutex
		raw []byte
		idx *index
	}
	// AfterWrite, when set, is called after each write the store makes
	// durable (a blob, an unpacked layer, the index): a test hook
	// (HOIST_TEST_KILL_AFTER_WRITE) that kills hoist between two of them.
	AfterWrite func()
}

// wrote tells AfterWrite that a write is durable.
func (s *Store) wrote() {
	if s.AfterWrite != nil {
		s.AfterWrite()
	}
}

// Image is a resolved local image, ready to become a container rootfs.
type Image struct {
	// ID is the config digest ("sha256:..."), as Docker reports it.
	ID string
	// Ref is the normalized reference it was resolved from, or the ID.
	Ref string
	// Digest is the manifest digest.
	Digest string
	Config v1.ConfigFile
	// Layers are the unpacked layer dirs, lowest first.
	Layers []string
}

// Summary is one line of List.
type Summary struct {
	Ref     string // normalized reference; the ID for untagged images
	ID      string
	Digest  string // manifest digest
	Size    int64  // unpacked size of all layers
	Created time.Time
}

// record is what index.json keeps per reference.
type record struct {
	Manifest string    `json:"manifest"`
	Config   string    `json:"config"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
}

type index struct {
	Version int               `json:"version"`
	Images  map[string]record `json:"images"`
}

// Open opens (creating if needed) the store rooted at root.
func Open(root string) (*Store, error) {
	if root == "" {
		root = DefaultRoot
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("image store root %q: %w", root, err)
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("create image store: %w", err)
		}
	}
	return &Store{root: abs}, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) blobPath(h v1.Hash) string {
	return filepath.Join(s.root, "blobs", h.Algorithm, h.Hex)
}

func (s *Store) layerPath(diffID v1.Hash) string {
	return filepath.Join(s.root, "layers", diffID.Algorithm, diffID.Hex)
}

// lock takes an flock on root/name; how is unix.LOCK_SH or unix.LOCK_EX.
// flock locks belong to the open file, so goroutines of one process
// exclude each other as two processes do.
func (s *Store) lock(ctx context.Context, name string, how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", name, err)
	}
	// Try without blocking first so a cancelled ctx is noticed while we
	// wait; flock itself cannot be interrupted by a context.
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writers hold gc.lock shared for their whole run so that GC, which takes
// it exclusively, never deletes blobs they have staged but not indexed.
func (s *Store) writer(ctx context.Context) (func(), error) {
	return s.lock(ctx, "gc.lock", unix.LOCK_SH)
}

// readIndex returns the current index for reading only: while index.json
// holds the same bytes, readers of this Store share one parsed copy
// (updateIndex parses its own).
func (s *Store) readIndex() (*index, error) {
	b, err := s.indexBytes()
	if err != nil {
		return nil, err
	}
	s.indexCache.Lock()
	defer s.indexCache.Unlock()
	if s.indexCache.idx != nil && bytes.Equal(b, s.indexCache.raw) {
		return s.indexCache.idx, nil
	}
	idx, err := parseIndex(b)
	if err != nil {
		return nil, err
	}
	s.indexCache.raw, s.indexCache.idx = b, idx
	return idx, nil
}

// IndexPath is the file that maps references to images: every pull, load,
// tag or removal rewrites it, so its bytes tell when what a reference
// names may have changed.
func (s *Store) IndexPath() string { return filepath.Join(s.root, "index.json") }

// indexBytes is index.json's content, empty when there is none yet.
func (s *Store) indexBytes() ([]byte, error) {
	b, err := os.ReadFile(s.IndexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	return b, nil
}

// parseIndex parses index.json's content (empty: no images).
func parseIndex(b []byte) (*index, error) {
	idx := &index{Version: 1, Images: map[string]record{}}
	if len(b) == 0 {
		return idx, nil
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("parse image index: %w", err)
	}
	if idx.Images == nil {
		idx.Images = map[string]record{}
	}
	return idx, nil
}

// updateIndex applies fn to the index under index.lock and replaces
// index.json atomically (temp file, fsync, rename, fsync dir), so readers,
// who take no lock, see either the old or the new index.
func (s *Store) updateIndex(ctx context.Context, fn func(*index) error) error {
	unlock, err := s.lock(ctx, "index.lock", unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := s.indexBytes()
	if err != nil {
		return err
	}
	idx, err := parseIndex(cur) // a copy of its own: fn changes it
	if err != nil {
		return err
	}
	if err := fn(idx); err != nil {
		return err
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image index: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.root, "index.json"), b); err != nil {
		return err
	}
	s.wrote()
	return nil
}

// writeFileAtomic replaces path atomically (see internal/atomicfile).
func writeFileAtomic(path string, b []byte) error { return atomicfile.WriteFile(path, b, 0o600) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// parseRef normalizes a reference. Registries on the loopback are
// reached over plain HTTP, as Docker does for localhost.
func parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parse reference %q: %w", ref, err)
	}
	if isLoopback(r.Context().RegistryStr()) {
		r, err = name.ParseReference(ref, name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("parse reference %q: %w", ref, err)
		}
	}
	return r, nil
}

func isLoopback(registry string) bool {
	host := registry
	if i := strings.LastIndex(host, ":"); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "[::1]"
}

// lookup finds ref in the index: by normalized reference, then by image
// ID (full "sha256:<hex>", or a hex prefix of at least 12 characters).
func lookup(idx *index, ref string) (string, record, error) {
	if r, err := parseRef(ref); err == nil {
		if rec, ok := idx.Images[r.Name()]; ok {
			return r.Name(), rec, nil
		}
	}
	if rec, ok := idx.Images[ref]; ok {
		return ref, rec, nil
	}
	id := strings.TrimPrefix(ref, "sha256:")
	if len(id) >= 12 && strings.Trim(id, "0123456789abcdef") == "" {
		keys := make([]string, 0, len(idx.Images))
		for k := range idx.Images {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if rec := idx.Images[k]; strings.HasPrefix(rec.Config, "sha256:"+id) {
				return rec.Config, rec, nil
			}
		}
	}
	return "", record{}, fmt.Errorf("image %q: %w", ref, engine.ErrNotFound)
}

// Resolve returns the local image ref names (a reference or an image ID),
// or an error wrapping engine.ErrNotFound when it is absent or incomplete.
func (s *Store) Resolve(ctx context.Context, ref string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	key, rec, err := lookup(idx, ref)
	if err != nil {
		return nil, err
	}
	cfgHash, err := v1.NewHash(rec.Config)
	if err != nil {
		return nil, fmt.Errorf("image %q: bad config digest: %w", ref, err)
	}
	cfg, err := s.configFile(cfgHash)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", ref, err)
	}
	img := &Image{ID: rec.Config, Ref: key, Digest: rec.Manifest, Config: *cfg}
	for _, d := range cfg.RootFS.DiffIDs {
		dir := s.layerPath(d)
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("image %q: layer %s: %w: %w", ref, d, engine.ErrNotFound, err)
		}
		img.Layers = append(img.Layers, dir)
	}
	return img, nil
}

// configFile reads and parses the config blob h, once per Store.
func (s *Store) configFile(h v1.Hash) (*v1.ConfigFile, error) {
	if c, ok := s.configs.Load(h); ok {
		return c.(*v1.ConfigFile), nil
	}
	b, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("config blob: %w: %w", engine.ErrNotFound, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	s.configs.Store(h, cfg)
	return cfg, nil
}

// List returns every reference in the store, sorted.
func (s *Store) List() ([]Summary, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(idx.Images))
	for k, rec := range idx.Images {
		out = append(out, Summary{Ref: k, ID: rec.Config, Digest: rec.Manifest, Size: rec.Size, Created: rec.Created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// Remove untags ref. Given an image ID it removes every reference to that
// image. Blobs and layers stay until GC.
func (s *Store) Remove(ctx context.Context, ref string) error {
	return s.updateIndex(ctx, func(idx *index) error {
		key, rec, err := lookup(idx, ref)
		if err != nil {
			return err
		}
		if key != rec.Config {
			delete(idx.Images, key)
			return nil
		}
		for k, r := range idx.Images {
			if r.Config == rec.Config {
				delete(idx.Images, k)
			}
		}
		return nil
	})
}
