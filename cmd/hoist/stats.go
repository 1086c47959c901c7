package main

import (
	"fmt"
	"io"
	"text/template"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newStats(a *app) *cobra.Command {
	var opts orchestrate.StatsOptions
	var format string
	var noTrunc bool
	c := &cobra.Command{
		Use:   "stats [OPTIONS] [SERVICE]",
		Short: "Display a live stream of container(s) resource usage statistics",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			tmpl, table, err := statsTemplate(format)
			if err != nil {
				return err
			}
			// Streaming to a terminal redraws the screen, as docker stats.
			redraw := !opts.Once && isTerminal(a.stdout)
			return a.withContainers(ctx, args, false, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				var werr error
				err := o.Stats(ctx, cs, opts, func(round []orchestrate.StatsSample) {
					if werr != nil {
						return
					}
					if redraw {
						fmt.Fprint(a.stdout, "\033[2J\033[H")
					}
					werr = writeStats(a.stdout, round, tmpl, table, noTrunc)
				})
				if werr != nil {
					return werr
				}
				return err
			})
		},
	}
	fl := c.Flags()
	fl.BoolVarP(&opts.All, "all", "a", false, "show all containers (default shows just running)")
	fl.StringVar(&format, "format", "", "output format: table, table TEMPLATE, json or a Go template")
	fl.BoolVar(&opts.Once, "no-stream", false, "disable streaming stats and only pull the first result")
	fl.BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	return c
}

// statsDefault is docker stats' table.
const statsDefault = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

// statsHeaders are docker stats' column titles.
var statsHeaders = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
	"MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

// statsTemplate parses stats' --format.
func statsTemplate(format string) (*template.Template, bool, error) {
	return rowTemplate(format, statsDefault, statsHeaders, "'{{.Name}} {{.CPUPerc}}'")
}

// statsRow is one container's line; the fields are docker stats'
// (json sorts them as docker's does).
type statsRow struct {
	BlockIO   string `json:"BlockIO"`
	CPUPerc   string `json:"CPUPerc"`
	Container string `json:"Container"`
	ID        string `json:"ID"`
	MemPerc   string `json:"MemPerc"`
	MemUsage  string `json:"MemUsage"`
	Name      string `json:"Name"`
	NetIO     string `json:"NetIO"`
	PIDs      string `json:"PIDs"`
}

func newStatsRow(s orchestrate.StatsSample, noTrunc bool) statsRow {
	id := s.Container.ID
	short := id
	if !noTrunc && len(short) > 12 {
		short = short[:12]
	}
	memPerc := 0.0
	if s.MemoryLimit > 0 {
		memPerc = float64(s.MemoryUsage) / float64(s.MemoryLimit) * 100
	}
	decimal := func(a, b uint64) string {
		return units.HumanSizeWithPrecision(float64(a), 3) + " / " + units.HumanSizeWithPrecision(float64(b), 3)
	}
	return statsRow{
		BlockIO:   decimal(s.BlockRead, s.BlockWrite),
		CPUPerc:   fmt.Sprintf("%.2f%%", s.CPUPercent),
		Container: id,
		ID:        short,
		MemPerc:   fmt.Sprintf("%.2f%%", memPerc),
		MemUsage:  units.BytesSize(float64(s.MemoryUsage)) + " / " + units.BytesSize(float64(s.MemoryLimit)),
		Name:      s.Container.Name,
		NetIO:     decimal(s.NetRx, s.NetTx),
		PIDs:      fmt.Sprint(s.Pids),
	}
}

// writeStats prints one round.
func writeStats(w io.Writer, round []orchestrate.StatsSample, tmpl *template.Template, table, noTrunc bool) error {
	rows := make([]any, 0, len(round))
	for _, s := range round {
		rows = append(rows, newStatsRow(s, noTrunc))
	}
	return writeRows(w, tmpl, table, rows)
}
