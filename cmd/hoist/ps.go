package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
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
	var status, filters []string
	c := &cobra.Command{
		Use:   "ps [SERVICE...]",
		Short: "List the project's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			want, err := psStatuses(status, filters)
			if err != nil {
				return err
			}
			if len(want) > 0 {
				all = true // a status filter looks at stopped ones too
			}
			var cs []engine.Container
			err = a.withContainers(cmd.Context(), args, all, func(_ *orchestrate.Orchestrator, _ string, got []engine.Container) error {
				cs = got
				return nil
			})
			if err != nil {
				return err
			}
			var rows []psEntry
			for _, c := range cs {
				if (!all && !c.Active()) || (len(want) > 0 && !want[c.State]) {
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
			default:
				return printPs(a.stdout, rows, format)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.BoolVarP(&all, "all", "a", false, "show stopped containers too")
	fl.BoolVarP(&quiet, "quiet", "q", false, "only IDs")
	fl.BoolVar(&services, "services", false, "only service names")
	fl.StringVar(&format, "format", "table", "table, json, or a Go template (\"table TEMPLATE\" adds a header), as in {{.Name}} {{.Status}}")
	fl.StringArrayVar(&status, "status", nil, "only containers in this state: created, running, restarting, paused, removing, exited or dead (repeatable)")
	fl.StringArrayVar(&filters, "filter", nil, "filter, as status=STATE (the one filter docker compose ps has)")
	return c
}

// psStatuses is the set of states --status and --filter status=... ask
// for; empty: no filter.
func psStatuses(status, filters []string) (map[string]bool, error) {
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != "status" {
			return nil, fmt.Errorf("ps --filter %q: the only filter is status=STATE", f)
		}
		status = append(status, v)
	}
	want := map[string]bool{}
	for _, s := range status {
		switch s {
		case engine.StateCreated, engine.StateRunning, engine.StateRestarting, engine.StatePaused, engine.StateExited, engine.StateDead, "removing":
			want[s] = true
		default:
			return nil, fmt.Errorf("ps --status %q: use created, running, restarting, paused, removing, exited or dead", s)
		}
	}
	return want, nil
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

// psView is what a --format template sees: the JSON fields plus Ports as
// the table shows them, as with docker compose.
type psView struct {
	psEntry
	Ports string
}

// printPs prints rows as --format says: "table" (the default), "json" (one
// object per line, as docker compose prints it), or a Go template applied
// to each row; "table TEMPLATE" aligns the columns under a header made of
// the template's field names.
func printPs(w io.Writer, rows []psEntry, format string) error {
	switch format {
	case "json":
		for _, r := range rows {
			b, _ := json.Marshal(r)
			fmt.Fprintln(w, string(b))
		}
		return nil
	case "table", "":
		format = "table {{.Name}}\t{{.Image}}\t{{.Service}}\t{{.Status}}\t{{.Ports}}"
	}
	text, table := strings.CutPrefix(format, "table ")
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	tmpl, err := template.New("ps").Funcs(template.FuncMap{
		"json":  func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"join":  strings.Join,
		"lower": strings.ToLower,
		"upper": strings.ToUpper,
		"split": strings.Split,
	}).Parse(text)
	if err != nil {
		return fmt.Errorf("--format: %w; use table, json or a Go template such as '{{.Name}} {{.Status}}'", err)
	}
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		out = tw
		fmt.Fprintln(tw, psHeader(text))
	}
	for _, r := range rows {
		if err := tmpl.Execute(out, psView{psEntry: r, Ports: portsText(r.Publishers)}); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

var psField = regexp.MustCompile(`\{\{[^}]*?\.(\w+)[^}]*\}\}`)

// psHeader turns a row template into its header: each action becomes its
// field's name in capitals, words apart (ExitCode: EXIT CODE).
func psHeader(text string) string {
	return psField.ReplaceAllStringFunc(text, func(action string) string {
		name := psField.FindStringSubmatch(action)[1]
		var b strings.Builder
		for i, r := range name {
			if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(name[i-1])) {
				b.WriteByte(' ')
			}
			b.WriteRune(unicode.ToUpper(r))
		}
		return b.String()
	})
}
