package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/orchestrate"
	"github.com/hoist-dev/hoist/watch"
)

func newWatch(a *app) *cobra.Command {
	var noUp, quiet bool
	c := &cobra.Command{
		Use:   "watch [SERVICE...]",
		Short: "Bring services up and apply develop.watch rules on every edit",
		RunE: func(cmd *cobra.Command, services []string) error {
			ctx := cmd.Context()
			return a.withProject(ctx, func(p *types.Project, o *orchestrate.Orchestrator) error {
				if !noUp {
					if _, err := o.Up(ctx, p, orchestrate.UpOptions{Services: services, Wait: true, KillCtx: a.killCtx}); err != nil {
						return err
					}
				}
				return a.runWatch(ctx, o, p, services, quiet)
			})
		},
	}
	c.Flags().BoolVar(&noUp, "no-up", false, "do not bring services up first")
	c.Flags().BoolVar(&quiet, "quiet", false, "print only errors")
	return c
}

// runWatch watches until ctx ends; cancellation is a normal end.
func (a *app) runWatch(ctx context.Context, o *orchestrate.Orchestrator, p *types.Project, services []string, quiet bool) error {
	svcs, err := watch.FromProject(p, services...)
	if err != nil {
		return err
	}
	if len(svcs) == 0 {
		return fmt.Errorf("no service has develop.watch rules: add develop.watch to a service in %s", p.ComposeFiles[0])
	}
	sink := newWatchPrinter(a.stderr, a.progress == "json", quiet)
	err = watch.Run(ctx, watch.Config{
		Services:   svcs,
		Controller: o.WatchController(p, a.killCtx),
		Clock:      watch.RealClock(),
		Sink:       sink,
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// newWatchPrinter prints one line per action (`web: synced 3 files (12 ms)`)
// or, with --progress json, every stage as a JSON line with its timestamp.
func newWatchPrinter(w io.Writer, asJSON, quiet bool) watch.Sink {
	var mu sync.Mutex
	return func(e watch.Event) {
		mu.Lock()
		defer mu.Unlock()
		if asJSON {
			out := map[string]any{"time": e.Time.Format(time.RFC3339Nano), "stage": e.Stage}
			for k, v := range map[string]string{"service": e.Service, "action": string(e.Action), "path": e.Path, "message": e.Message} {
				if v != "" {
					out[k] = v
				}
			}
			if e.Files > 0 {
				out["files"] = e.Files
			}
			if e.Duration > 0 {
				out["duration_ms"] = float64(e.Duration.Microseconds()) / 1000
			}
			if e.Err != nil {
				out["error"] = e.Err.Error()
			}
			b, _ := json.Marshal(out)
			fmt.Fprintln(w, string(b))
			return
		}
		switch e.Stage {
		case watch.StageDone:
			if e.Err != nil {
				fmt.Fprintf(w, "%s: %s failed: %v\n", e.Service, e.Action, e.Err)
				return
			}
			if quiet {
				return
			}
			fmt.Fprintf(w, "%s: %s (%s)\n", e.Service, doneText(e), roundDuration(e.Duration))
		case watch.StageWarning, watch.StagePaused:
			fmt.Fprintf(w, "WARN %s%s\n", prefixService(e.Service), e.Message)
		case watch.StageSkipped:
			if !quiet {
				fmt.Fprintf(w, "%sskipped %s: %s\n", prefixService(e.Service), e.Path, e.Message)
			}
		case watch.StageRescan:
			fmt.Fprintf(w, "event queue overflowed: rescanned, %d paths changed\n", e.Files)
		case watch.StageReady:
			if !quiet {
				fmt.Fprintf(w, "watching %d directories (registered in %s); press Ctrl+C to stop\n", e.Files, roundDuration(e.Duration))
			}
		}
	}
}

func doneText(e watch.Event) string {
	switch e.Action {
	case watch.ActionSync:
		if e.Files == 1 {
			return "synced 1 file"
		}
		return fmt.Sprintf("synced %d files", e.Files)
	case watch.ActionRebuild:
		return "rebuilt and recreated"
	case watch.ActionRestart:
		return "restarted"
	case watch.ActionExec:
		return "ran exec command"
	}
	return string(e.Action)
}

func prefixService(s string) string {
	if s == "" {
		return ""
	}
	return s + ": "
}

func roundDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
