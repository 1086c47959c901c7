package orchestrate

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// EventsOptions are docker compose events' --since and --until, and the
// services to show (all when empty).
type EventsOptions struct {
	Services     []string
	Since, Until time.Time
}

// Events hands sink the project's container events as docker compose
// events shows them: one-off containers' left out, and compose's own
// labels left out of the attributes. It returns when ctx ends, or at
// Until.
func (o *Orchestrator) Events(ctx context.Context, project string, opts EventsOptions, sink func(engine.ContainerEvent)) error {
	es, err := ability[engine.EventStreamer](o.Backend, "stream events")
	if err != nil {
		return err
	}
	if !opts.Until.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, opts.Until)
		defer cancel()
	}
	err = es.Events(ctx, project, engine.EventOptions{Since: opts.Since}, func(e engine.ContainerEvent) {
		if e.OneOff || (len(opts.Services) > 0 && !slices.Contains(opts.Services, e.Service)) {
			return
		}
		attrs := maps.Clone(e.Attributes)
		maps.DeleteFunc(attrs, func(k, _ string) bool { return strings.HasPrefix(k, "com.docker.compose.") })
		e.Attributes = attrs
		sink(e)
	})
	if !opts.Until.IsZero() && errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}
