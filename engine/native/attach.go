package native

import (
	"context"
	"fmt"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// Attach follows the container's output (its log, from now on) and, when
// the container keeps its input open, copies Stdin there through its
// supervisor, which holds the input's write end (or the terminal).
func (b *Backend) Attach(ctx context.Context, id string, s engine.AttachStreams) (int, error) {
	r, _, err := b.running(id)
	if r == nil {
		return 0, fmt.Errorf("attach: %w", err)
	}
	if err != nil {
		return 0, fmt.Errorf("attach to %s: %w", r.Name, err)
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Output from now on, by time: the follower may start reading after
	// the container already answered the input sent below.
	since := time.Now().Format(time.RFC3339Nano)
	if s.Stdin != nil && (r.StdinOpen || r.Spec.TTY) {
		c := b.sups.Live(ctx, r.Project)
		if c == nil {
			return 0, fmt.Errorf("attach to %s: its project has no supervisor to hold its input", r.Name)
		}
		go func() { _ = c.Stdin(actx, r.ID, s.Stdin) }()
	}
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		_ = b.Logs(actx, r.ID, engine.LogOptions{Follow: true, Tail: "all", Since: since}, s.Stdout, s.Stderr)
	}()
	c, err := b.WaitStop(ctx, r.ID)
	if err != nil {
		return 0, err
	}
	// The log follower ends with the container; what is in flight still
	// comes out.
	select {
	case <-logsDone:
	case <-time.After(5 * time.Second):
	}
	return c.ExitCode, nil
}
