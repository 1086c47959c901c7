package native

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

// supervisorPoll is how often Events looks for the project's supervisor
// while none runs (before up, after down): there is no daemon to ask.
const supervisorPoll = 200 * time.Millisecond

// Events streams the events of the project's supervisor, named as the
// Engine API names them: start, die (with exitCode), health_status and
// destroy. What the CLI does by itself (create, pause, ...) has no
// supervisor event, and there is no past to replay (Since).
func (b *Backend) Events(ctx context.Context, project string, opts engine.EventOptions, fn func(engine.ContainerEvent)) error {
	if !opts.Since.IsZero() {
		return fmt.Errorf("events since a time: the native engine keeps no past events: %w", engine.ErrNotImplemented)
	}
	for {
		if c := b.sups.Live(ctx, project); c != nil {
			if ch, err := c.Subscribe(ctx); err == nil {
				for e := range ch {
					if ev, ok := b.containerEvent(e); ok {
						fn(ev)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(supervisorPoll):
		}
	}
}

// containerEvent names a supervisor event as the Engine API does; ok is
// false for one it has no counterpart of (a restart's wait: the Engine
// reports a restart as die, then start).
func (b *Backend) containerEvent(e supervisor.Event) (engine.ContainerEvent, bool) {
	ev := engine.ContainerEvent{Time: e.Time, ID: e.ID, Attributes: map[string]string{}}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	switch e.Type {
	case supervisor.EventStarted:
		ev.Action = "start"
	case supervisor.EventExited:
		ev.Action = "die"
		ev.Attributes["exitCode"] = strconv.Itoa(e.ExitCode)
	case supervisor.EventHealth:
		ev.Action = "health_status: " + e.Health
	case supervisor.EventRemoved:
		ev.Action = "destroy"
	default:
		return ev, false
	}
	if r, err := b.layout.LoadRef(e.ID); err == nil {
		maps.Copy(ev.Attributes, r.Labels)
		ev.Attributes["name"], ev.Attributes["image"] = r.Name, r.Image
		ev.Service, ev.OneOff = r.Service, r.OneOff
	}
	return ev, true
}
