package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/internal/atomicfile"
)

// entry is one cache record: the image a step (or a whole build) produced.
// Empty means the step changed nothing on disk; the state keeps its image.
type entry struct {
	Image   string    `json:"image,omitempty"`
	Empty   bool      `json:"empty,omitempty"`
	Created time.Time `json:"created"`
}

// chainKey hashes a parent key and the parts of one step. Parts are length
// prefixed so no two different lists hash alike.
func chainKey(parent string, parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "hoist-build-v1\x00%s\x00", parent)
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\x00", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedPairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%q=%q\n", k, m[k])
	}
	return sb.String()
}

// lookup returns the image recorded for key, if it is still in the store.
func (b *Builder) lookup(ctx context.Context, key string) (string, bool) {
	e, ok := b.readEntry(key)
	if !ok || e.Image == "" {
		return "", false
	}
	if _, err := b.store.Resolve(ctx, e.Image); err != nil {
		return "", false
	}
	return e.Image, true
}

func (b *Builder) readEntry(key string) (entry, bool) {
	raw, err := os.ReadFile(filepath.Join(b.indexDir(), key))
	if err != nil {
		return entry{}, false
	}
	var e entry
	if json.Unmarshal(raw, &e) != nil {
		return entry{}, false
	}
	return e, true
}

// record writes key -> e atomically. A failure only costs a cache miss
// later, so it is not reported.
func (b *Builder) record(key string, e entry) {
	if e.Created.IsZero() {
		e.Created = time.Now().UTC()
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return
	}
	if writeAtomic(filepath.Join(b.indexDir(), key), raw) == nil && b.afterWrite != nil {
		b.afterWrite()
	}
}

// writeAtomic replaces path atomically (see internal/atomicfile).
func writeAtomic(path string, data []byte) error { return atomicfile.WriteFile(path, data, 0o600) }

// GC removes cache entries whose images are gone from the store and
// leftovers of interrupted builds, and returns how many entries it removed.
// RUN cache mounts (--mount=type=cache) are kept.
func (b *Builder) GC(ctx context.Context) (int, error) {
	ents, err := os.ReadDir(b.indexDir())
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("build cache gc: %w", err)
	}
	n := 0
	for _, de := range ents {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		name := de.Name()
		p := filepath.Join(b.indexDir(), name)
		if strings.HasPrefix(name, ".tmp-") {
			if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
				os.Remove(p)
			}
			continue
		}
		e, ok := b.readEntry(name)
		gone := !ok
		if ok && e.Image != "" {
			_, err := b.store.Resolve(ctx, e.Image)
			gone = err != nil
		}
		if gone {
			if err := os.Remove(p); err == nil {
				n++
			}
		}
	}
	// Scratch dirs of builds that died; a live build's dir is younger.
	tmps, _ := os.ReadDir(b.tmpDir())
	for _, de := range tmps {
		if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			p := filepath.Join(b.tmpDir(), de.Name())
			if !isMountpointBelow(p) {
				os.RemoveAll(p)
			}
		}
	}
	return n, nil
}

// isMountpointBelow reports whether anything is mounted at or under p.
func isMountpointBelow(p string) bool {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == p || strings.HasPrefix(f[4], p+"/")) {
			return true
		}
	}
	return false
}

// hashCache remembers file content hashes by identity and change time, so
// a rebuild hashes only files that changed since the last build in this
// process.
type hashCache struct {
	mu     sync.Mutex
	m      map[fileID]string
	loaded map[string]bool // context dirs whose saved hashes are in m
}

type fileID struct {
	dev, ino    uint64
	size        int64
	mtime, ctim int64
}

func newHashCache() *hashCache {
	return &hashCache{m: map[fileID]string{}, loaded: map[string]bool{}}
}

func (c *hashCache) get(id fileID) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[id]
	return h, ok
}

func (c *hashCache) put(id fileID, h string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[id] = h
}

// Content hashes of context files are kept on disk per context dir, so a
// new hoist process rebuilding an unchanged context reads no file contents.
// Each build rewrites its context's file with the files it saw.

type savedHash struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
	Ctime int64  `json:"ctime"`
	Sum   string `json:"sum"`
}

func (b *Builder) hashFile(root string) string {
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(b.dir, "hashes", hex.EncodeToString(sum[:16])+".json")
}

func (b *Builder) loadHashes(root string) {
	b.hash.mu.Lock()
	loaded := b.hash.loaded[root]
	b.hash.mu.Unlock()
	if loaded {
		return
	}
	raw, err := os.ReadFile(b.hashFile(root))
	var saved []savedHash
	if err == nil && json.Unmarshal(raw, &saved) == nil {
		for _, s := range saved {
			b.hash.put(fileID{s.Dev, s.Ino, s.Size, s.Mtime, s.Ctime}, s.Sum)
		}
	}
	b.hash.mu.Lock()
	b.hash.loaded[root] = true
	b.hash.mu.Unlock()
}

func (b *Builder) saveHashes(t *srcTree) {
	if !t.fresh {
		return
	}
	saved := make([]savedHash, 0, len(t.seen))
	for id, sum := range t.seen {
		saved = append(saved, savedHash{id.dev, id.ino, id.size, id.mtime, id.ctim, sum})
	}
	sort.Slice(saved, func(a, c int) bool { return saved[a].Ino < saved[c].Ino })
	raw, err := json.Marshal(saved)
	if err != nil {
		return
	}
	p := b.hashFile(t.root)
	if os.MkdirAll(filepath.Dir(p), 0o700) == nil {
		_ = writeAtomic(p, raw)
	}
}
