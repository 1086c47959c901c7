package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/hoist-dev/hoist/engine"
)

// Events streams the daemon's container events of the project.
func (b *Backend) Events(ctx context.Context, project string, opts engine.EventOptions, fn func(engine.ContainerEvent)) error {
	args := filters.NewArgs(filters.Arg("type", "container"), filters.Arg("label", engine.LabelProject+"="+project))
	lo := events.ListOptions{Filters: args}
	if !opts.Since.IsZero() {
		lo.Since = eventTime(opts.Since)
	}
	msgs, errs := b.api.Events(ctx, lo)
	for {
		select {
		case m := <-msgs:
			t := time.Unix(0, m.TimeNano)
			if m.TimeNano == 0 {
				t = time.Unix(m.Time, 0)
			}
			fn(engine.ContainerEvent{
				Time: t, ID: m.Actor.ID, Service: m.Actor.Attributes[engine.LabelService],
				OneOff: m.Actor.Attributes[engine.LabelOneOff] == "True",
				Action: string(m.Action), Attributes: m.Actor.Attributes,
			})
		case err := <-errs:
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return ctx.Err()
			}
			return fmt.Errorf("events of project %q: %w", project, mapErr(err))
		}
	}
}
