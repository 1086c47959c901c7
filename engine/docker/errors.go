package docker

import (
	"errors"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/hoist-dev/hoist/engine"
)

// kindError keeps the daemon's message as is while letting errors.Is find
// the engine error kind.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// mapErr classifies a daemon error into engine.ErrNotFound or
// engine.ErrConflict; other errors pass through unchanged.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return &kindError{kind: engine.ErrNotFound, err: err}
	case cerrdefs.IsConflict(err), cerrdefs.IsAlreadyExists(err):
		return &kindError{kind: engine.ErrConflict, err: err}
	case cerrdefs.IsPermissionDenied(err):
		// The daemon answers 403 for "network has active endpoints": an
		// object in use, which callers handle like a conflict.
		return &kindError{kind: engine.ErrConflict, err: err}
	}
	return err
}

func isNotFound(err error) bool { return errors.Is(err, engine.ErrNotFound) }
