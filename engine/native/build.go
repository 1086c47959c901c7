package native

import (
	"context"
	"sync"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/build"
)

// builderOnce holds the native Dockerfile builder on the engine's store, its
// cache under <Root>/build; made on first use and kept, so the context
// hashes it remembers serve later builds of the same process.
type builderOnce struct {
	once sync.Once
	b    *build.Builder
}

// Build builds spec into the native store with engine/native/build: RUN
// steps run as native containers, and the layer cache lives under
// <Root>/build.
func (b *Backend) Build(ctx context.Context, spec engine.BuildSpec, progress func(msg string)) (string, error) {
	b.builder.once.Do(func() { b.builder.b = build.New(b.store, build.Options{}) })
	return b.builder.b.Build(ctx, spec, progress)
}
