package orchestrate

import (
	"context"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// StatsSample is one container's resource use over an interval, as docker
// stats shows it: CPU as a percentage of one core (a rate over the time
// between two reads), the rest as the last read's counters.
type StatsSample struct {
	Container  engine.Container
	CPUPercent float64
	engine.Stats
}

// StatsInterval is how often docker stats refreshes, and the window of
// the first CPU rate.
const StatsInterval = time.Second

// StatsOptions are docker stats' --all and --no-stream.
type StatsOptions struct {
	// All lists the containers that are not running too, with zeros.
	All bool
	// Once stops after the first round.
	Once bool
}

// Stats reads the running containers of cs every StatsInterval and hands
// each round to sink, until ctx ends or, with Once, after the first
// round. A container that is not running is left out, or with All shown
// with zeros.
func (o *Orchestrator) Stats(ctx context.Context, cs []engine.Container, opts StatsOptions, sink func([]StatsSample)) error {
	sr, err := ability[engine.StatsReader](o.Backend, "read container stats")
	if err != nil {
		return err
	}
	prev := map[string]engine.Stats{}
	read := func() []StatsSample {
		var out []StatsSample
		for _, c := range cs {
			var s engine.Stats
			var err error
			if c.State == engine.StateRunning || c.State == engine.StatePaused {
				s, err = sr.Stats(ctx, c.ID)
			}
			if (err != nil || s.Read.IsZero()) && !opts.All {
				continue
			}
			sample := StatsSample{Container: c, Stats: s}
			if p, ok := prev[c.ID]; ok && s.Read.After(p.Read) && s.CPUNanos >= p.CPUNanos {
				sample.CPUPercent = float64(s.CPUNanos-p.CPUNanos) / float64(s.Read.Sub(p.Read)) * 100
			}
			prev[c.ID] = s
			out = append(out, sample)
		}
		return out
	}
	read()
	t := time.NewTicker(StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		sink(read())
		if opts.Once {
			return nil
		}
	}
}
