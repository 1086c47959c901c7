package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newLogs(a *app) *cobra.Command {
	var opts engine.LogOptions
	var noPrefix, noColor bool
	var index int
	c := &cobra.Command{
		Use:   "logs [SERVICE...]",
		Short: "Show the containers' output",
		RunE: func(cmd *cobra.Command, args []string) error {
			if index < 0 {
				return fmt.Errorf("logs --index %d: use a replica number from 1", index)
			}
			ctx := cmd.Context()
			return a.withContainers(ctx, args, false, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				if index > 0 {
					// The replica of that number, of each service asked for.
					cs = slices.DeleteFunc(cs, func(c engine.Container) bool { return c.Number != index })
				}
				p := newLogPrinter(a.stdout, cs, !noColor && isTerminal(a.stdout), noPrefix, opts.Timestamps)
				err := o.Logs(ctx, cs, opts, p.print)
				if ctx.Err() != nil {
					return nil
				}
				return err
			})
		},
	}
	fl := c.Flags()
	// No -f shorthand: the persistent -f is --file, and cobra panics on
	// the clash as soon as logs runs.
	fl.BoolVar(&opts.Follow, "follow", false, "follow log output")
	fl.StringVarP(&opts.Tail, "tail", "n", "all", "number of lines to show from the end")
	fl.StringVar(&opts.Since, "since", "", "show logs since a timestamp or relative time (42m)")
	fl.StringVar(&opts.Until, "until", "", "show logs before a timestamp or relative time (42m)")
	fl.BoolVarP(&opts.Timestamps, "timestamps", "t", false, "show timestamps")
	fl.BoolVar(&noPrefix, "no-log-prefix", false, "do not prefix lines with the container name")
	fl.BoolVar(&noColor, "no-color", false, "monochrome output")
	fl.IntVar(&index, "index", 0, "only the container of this number (replica) of the service")
	return c
}

// logPrinter writes "name  | line" with a stable color per service. The
// orchestrator serializes its calls.
type logPrinter struct {
	w        io.Writer
	width    int
	color    bool
	noPrefix bool
	colors   map[string]string
}

var palette = []string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

func newLogPrinter(w io.Writer, cs []engine.Container, color, noPrefix, _ bool) *logPrinter {
	p := &logPrinter{w: w, color: color, noPrefix: noPrefix, colors: map[string]string{}}
	services := map[string]bool{}
	for _, c := range cs {
		if n := len(prefixName(c)); n > p.width {
			p.width = n
		}
		services[c.Service] = true
	}
	i := 0
	for _, s := range sortedSet(services) {
		p.colors[s] = palette[i%len(palette)]
		i++
	}
	return p
}

func prefixName(c engine.Container) string {
	return strings.TrimPrefix(c.Name, c.Project+"-")
}

func (p *logPrinter) print(l orchestrate.LogLine) {
	if l.Exited {
		name := prefixName(l.Container)
		if p.color {
			name = "\x1b[" + p.colors[l.Container.Service] + "m" + name + "\x1b[0m"
		}
		fmt.Fprintf(p.w, "%s exited with code %d\n", name, l.ExitCode)
		return
	}
	if p.noPrefix {
		fmt.Fprintln(p.w, l.Text)
		return
	}
	name := fmt.Sprintf("%-*s |", p.width, prefixName(l.Container))
	if p.color {
		name = "\x1b[" + p.colors[l.Container.Service] + "m" + name + "\x1b[0m"
	}
	fmt.Fprintln(p.w, name, l.Text)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
