package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
)

// psEntry mirrors docker compose's `ps --format json` fields.
type psEntry struct {
	ID         string      `json:"ID"`
	Name       string      `json:"Name"`
	Image      string      `json:"Image"`
	Project    string      `json:"Project"`
	Service    string      `json:"Service"`
	State      string      `json:"State"`
	Health     string      `json:"Health"`
	ExitCode   int         `json:"ExitCode"`
	Status     string      `json:"Status"`
	Publishers []publisher `json:"Publishers"`
}

type publisher struct {
	URL           string `json:"URL"`
	TargetPort    uint16 `json:"TargetPort"`
	PublishedPort uint16 `json:"PublishedPort"`
	Protocol      string `json:"Protocol"`
}

func newPs(a *app) *cobra.Command {
	var all, quiet, services bool
	var format string
	c := &cobra.Command{
		Use:   "ps [SERVICE...]",
		Short: "List the project's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			var cs []engine.Container
			err := a.withContainers(cmd.Context(), args, all, func(_ engine.Backend, _ string, got []engine.Container) error {
				cs = got
				return nil
			})
			if err != nil {
				return err
			}
			var rows []psEntry
			for _, c := range cs {
				if !all && c.State != engine.StateRunning && c.State != engine.StateRestarting && c.State != engine.StatePaused {
					continue
				}
				rows = append(rows, entry(c))
			}
			switch {
			case quiet:
				for _, r := range rows {
					fmt.Fprintln(a.stdout, r.ID)
				}
			case services:
				seen := map[string]bool{}
				for _, r := range rows {
					seen[r.Service] = true
				}
				for _, s := range sortedSet(seen) {
					fmt.Fprintln(a.stdout, s)
				}
			case format == "json":
				// One object per line, as docker compose prints it.
				for _, r := range rows {
					b, _ := json.Marshal(r)
					fmt.Fprintln(a.stdout, string(b))
				}
			case format == "table" || format == "":
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "NAME\tIMAGE\tSERVICE\tSTATUS\tPORTS")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Image, r.Service, r.Status, portsText(r.Publishers))
				}
				return tw.Flush()
			default:
				return fmt.Errorf("--format %q: use table or json", format)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.BoolVarP(&all, "all", "a", false, "show stopped containers too")
	fl.BoolVarP(&quiet, "quiet", "q", false, "only IDs")
	fl.BoolVar(&services, "services", false, "only service names")
	fl.StringVar(&format, "format", "table", "table or json")
	return c
}

func entry(c engine.Container) psEntry {
	e := psEntry{ID: c.ID, Name: c.Name, Image: c.Image, Project: c.Project, Service: c.Service, State: c.State, Health: c.Health, ExitCode: c.ExitCode, Publishers: []publisher{}}
	e.Status = c.State
	switch {
	case c.State == engine.StateExited:
		e.Status = fmt.Sprintf("exited (%d)", c.ExitCode)
	case c.Health != "":
		e.Status = fmt.Sprintf("%s (%s)", c.State, c.Health)
	}
	for _, p := range c.Ports {
		host := p.HostIP
		if host == "" {
			host = "0.0.0.0"
		}
		e.Publishers = append(e.Publishers, publisher{URL: host, TargetPort: p.ContainerPort, PublishedPort: p.HostPort, Protocol: p.Protocol})
	}
	sort.Slice(e.Publishers, func(i, j int) bool { return e.Publishers[i].TargetPort < e.Publishers[j].TargetPort })
	return e
}

func portsText(ps []publisher) string {
	var parts []string
	for _, p := range ps {
		if p.PublishedPort == 0 {
			parts = append(parts, fmt.Sprintf("%d/%s", p.TargetPort, p.Protocol))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%d->%d/%s", p.URL, p.PublishedPort, p.TargetPort, p.Protocol))
	}
	return strings.Join(parts, ", ")
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
