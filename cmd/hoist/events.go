package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newEvents(a *app) *cobra.Command {
	var asJSON bool
	var since, until string
	c := &cobra.Command{
		Use:   "events [OPTIONS] [SERVICE...]",
		Short: "Receive real time events from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			opts := orchestrate.EventsOptions{Services: args}
			var err error
			if opts.Since, err = eventsTime("since", since); err != nil {
				return err
			}
			if opts.Until, err = eventsTime("until", until); err != nil {
				return err
			}
			return a.withNamedProject(ctx, func(name string, _ *types.Project, o *orchestrate.Orchestrator) error {
				return o.Events(ctx, name, opts, func(e engine.ContainerEvent) {
					if asJSON {
						b, _ := json.Marshal(map[string]any{
							"time": e.Time, "type": "container", "service": e.Service,
							"id": e.ID, "action": e.Action, "attributes": e.Attributes,
						})
						fmt.Fprintln(a.stdout, string(b))
						return
					}
					// docker compose's line (its attributes unordered;
					// here sorted).
					var attrs []string
					for _, k := range slices.Sorted(maps.Keys(e.Attributes)) {
						attrs = append(attrs, k+"="+e.Attributes[k])
					}
					fmt.Fprintf(a.stdout, "%s container %s %s (%s)\n\n", e.Time.Format("2006-01-02 15:04:05.000000"), e.Action, e.ID, strings.Join(attrs, ", "))
				})
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "output events as a stream of json objects")
	c.Flags().StringVar(&since, "since", "", "show all events created since timestamp")
	c.Flags().StringVar(&until, "until", "", "stream events until this timestamp")
	return c
}

// eventsTime parses --since or --until as docker does: an RFC 3339 time,
// Unix seconds, or a duration before now (10m).
func eventsTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	var sec, nsec int64
	if n, _ := fmt.Sscanf(v, "%d.%d", &sec, &nsec); n >= 1 {
		return time.Unix(sec, nsec), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: use an RFC 3339 time, Unix seconds or a duration such as 10m", flag, v)
}
