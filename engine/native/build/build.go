// Package build turns a Dockerfile and its context into an image in the
// native image store, with no daemon. RUN steps run as native containers
// (engine/native/runtime) over an overlay of the image built so far; every
// filesystem-changing step becomes one layer, the tar diff of its overlay
// upper dir. Each RUN step gets a network namespace of its own from the
// Network the engine injects (network.go); the host's network only where
// the build allows it.
//
// # Cache
//
// Every instruction extends a chain of keys: a step's key hashes its
// parent's key (the base image ID at FROM), the instruction text, and for
// COPY/ADD (and RUN bind mounts) the content hash of the sources (contents
// and modes, not mtimes). ARG steps put their values into the chain and
// ENV steps their text, so everything a step's expansion and environment
// depend on is in its key. A filesystem-changing step
// commits an untagged image to the store and records key -> image ID in
// CacheDir/index, one small file per key written atomically, so a later
// build (in any process) whose prefix is unchanged only reads those files.
// Metadata steps (ENV, CMD, ...) need no entry: they are replayed in memory,
// which costs nothing. The final image is also recorded by key, so a build
// with no change just re-tags it.
package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/image"
)

// Options configure a Builder.
type Options struct {
	// CacheDir holds the cache index, RUN cache mounts and scratch space.
	// It must be on a filesystem that can hold an overlayfs upper dir.
	// Empty means <store root>/build.
	CacheDir string
	// Network gives RUN steps their network namespaces (see Network).
	// Nil gives every step a namespace with only lo, never the host's.
	Network Network
	// AfterWrite, when set, is called after each cache entry written:
	// a test hook, as image.Store's AfterWrite.
	AfterWrite func()
}

// Builder builds Dockerfiles into one image store. It is safe for
// concurrent use; concurrent builds of the same steps may both run them.
type Builder struct {
	store *image.Store
	dir   string
	hash  *hashCache
	net   Network
	// afterWrite is Options.AfterWrite.
	afterWrite func()
}

// New returns a Builder storing images in store.
func New(store *image.Store, opts Options) *Builder {
	dir := opts.CacheDir
	if dir == "" {
		dir = filepath.Join(store.Root(), "build")
	}
	return &Builder{store: store, dir: dir, hash: newHashCache(), net: opts.Network, afterWrite: opts.AfterWrite}
}

func (b *Builder) indexDir() string  { return filepath.Join(b.dir, "index") }
func (b *Builder) mountsDir() string { return filepath.Join(b.dir, "mounts") }
func (b *Builder) tmpDir() string    { return filepath.Join(b.dir, "tmp") }

// Build builds spec and returns the image ID; the image is tagged spec.Tag
// when it is set. progress, which may be nil, gets one line per step.
func (b *Builder) Build(ctx context.Context, spec engine.BuildSpec, progress func(string)) (id string, err error) {
	if progress == nil {
		progress = func(string) {}
	}
	if !filepath.IsAbs(spec.Context) {
		return "", fmt.Errorf("build: context %q is not absolute", spec.Context)
	}
	for _, d := range []string{b.indexDir(), b.mountsDir(), b.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("build: %w", err)
		}
	}
	b.sweepTmp()
	src, dfPath, err := readDockerfile(spec)
	if err != nil {
		return "", err
	}
	res, err := parser.Parse(strings.NewReader(src))
	if err != nil {
		return "", fmt.Errorf("build: parse %s: %w", dfPath, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return "", fmt.Errorf("build: parse %s: %w", dfPath, err)
	}
	if len(stages) == 0 {
		return "", fmt.Errorf("build: %s has no FROM", dfPath)
	}
	bctx, err := openContext(spec.Context, dfPath, spec.Inline != "", b.hash)
	if err != nil {
		return "", err
	}
	b.loadHashes(bctx.root)
	defer b.saveHashes(bctx)
	j := &job{
		b:        b,
		spec:     spec,
		progress: progress,
		ctxDir:   bctx,
		stages:   stages,
		escape:   res.EscapeToken,
		done:     map[int]*state{},
		active:   map[int]bool{},
	}
	defer j.cleanup()
	defer func() {
		if nerr := j.closeNetwork(ctx); nerr != nil {
			err = errors.Join(err, fmt.Errorf("build: remove the build's network: %w", nerr))
		}
	}()
	if err := j.metaArgs(metaArgs); err != nil {
		return "", err
	}
	target := len(stages) - 1
	if spec.Target != "" {
		i, ok := instructions.HasStage(stages, spec.Target)
		if !ok {
			return "", fmt.Errorf("build: target stage %q not found", spec.Target)
		}
		target = i
	}
	j.multi = len(stages) > 1
	st, err := j.stage(ctx, target)
	if err != nil {
		return "", err
	}
	return j.finish(ctx, st)
}

// readDockerfile returns the Dockerfile's text and a name for messages.
func readDockerfile(spec engine.BuildSpec) (string, string, error) {
	if spec.Inline != "" {
		return spec.Inline, "dockerfile_inline", nil
	}
	name := spec.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(spec.Context, name)
	}
	raw, err := os.ReadFile(name)
	if err != nil {
		return "", "", fmt.Errorf("build: read Dockerfile: %w", err)
	}
	return string(raw), name, nil
}

// finish commits the target stage's state as the result image, or re-tags
// the image a previous build made from the same key.
func (j *job) finish(ctx context.Context, st *state) (string, error) {
	cfg := st.cfg
	if len(j.spec.Labels) > 0 {
		cfg.Labels = copyMap(cfg.Labels)
		for k, v := range j.spec.Labels {
			cfg.Labels[k] = v
		}
	}
	key := chainKey(st.key, "final", sortedPairs(j.spec.Labels))
	if !j.spec.NoCache {
		if id, ok := j.b.lookup(ctx, key); ok {
			return j.tag(ctx, id)
		}
	}
	id, err := j.b.store.Commit(ctx, image.Commit{
		Ref:    j.spec.Tag,
		Parent: st.image,
		Config: j.configFile(cfg),
		Layers: historyOnly(st.hist),
	}, nil)
	if err != nil {
		return "", fmt.Errorf("build: commit image: %w", err)
	}
	if !j.spec.NoCache {
		j.b.record(key, entry{Image: id})
	}
	return id, nil
}

// tag points spec.Tag at the existing image id. Committing the image's own
// config on itself with no layers reproduces the same config, so the same ID.
func (j *job) tag(ctx context.Context, id string) (string, error) {
	if j.spec.Tag == "" {
		return id, nil
	}
	img, err := j.b.store.Resolve(ctx, id)
	if err != nil {
		return "", fmt.Errorf("build: cached image: %w", err)
	}
	if cur, err := j.b.store.Resolve(ctx, j.spec.Tag); err == nil && cur.ID == id {
		return id, nil
	}
	// Commit re-derives RootFS and History from the parent, so the config
	// comes out byte-identical and the ID unchanged.
	cfg := *img.Config.DeepCopy()
	got, err := j.b.store.Commit(ctx, image.Commit{Ref: j.spec.Tag, Parent: id, Config: cfg}, nil)
	if err != nil {
		return "", fmt.Errorf("build: tag %s: %w", j.spec.Tag, err)
	}
	return got, nil
}

func (j *job) configFile(cfg v1.Config) v1.ConfigFile {
	return v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH, Config: cfg}
}

func historyOnly(h []v1.History) []image.NewLayer {
	out := make([]image.NewLayer, len(h))
	for i, e := range h {
		out[i] = image.NewLayer{History: e}
	}
	return out
}

func copyMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stepError names the instruction and its line.
func stepError(cmd instructions.Command, err error) error {
	loc := ""
	if l := cmd.Location(); len(l) > 0 {
		loc = fmt.Sprintf(" (line %d)", l[0].Start.Line)
	}
	var code string
	if s, ok := cmd.(fmt.Stringer); ok {
		code = s.String()
	} else {
		code = strings.ToUpper(cmd.Name())
	}
	return fmt.Errorf("build: %s%s: %w", code, loc, err)
}

var errUnsupported = errors.New("not supported by the native builder")
