package docker

import (
	"github.com/hoist-dev/hoist/runspec"
)

// Unsupported lists what of c this backend does not apply, so that the
// caller can warn once, naming it. The Engine API takes every part of a
// container configuration; what compose has and hoist does not carry is
// compose.Unmapped's.
func (b *Backend) Unsupported(c runspec.Container) []string {
	return nil
}
