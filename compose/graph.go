package compose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Edge is one depends_on relation: From needs To under Condition.
type Edge struct {
	From, To  string
	Condition string
	Required  bool
	Restart   bool
}

// Edges lists every depends_on edge of the project in a stable order.
func Edges(p *types.Project) []Edge {
	var out []Edge
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			cond := d.Condition
			if cond == "" {
				cond = types.ServiceConditionStarted
			}
			out = append(out, Edge{From: name, To: dep, Condition: cond, Required: d.Required, Restart: d.Restart})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}

// DOT renders the dependency graph for Graphviz.
func DOT(p *types.Project) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=LR;\n", p.Name)
	for _, n := range sortedServiceNames(p) {
		fmt.Fprintf(&b, "  %q;\n", n)
	}
	for _, e := range Edges(p) {
		fmt.Fprintf(&b, "  %q -> %q [label=%q];\n", e.From, e.To, shortCondition(e.Condition))
	}
	b.WriteString("}\n")
	return b.String()
}

// Mermaid renders the dependency graph as a Mermaid flowchart.
func Mermaid(p *types.Project) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, n := range sortedServiceNames(p) {
		fmt.Fprintf(&b, "  %s[%s]\n", mermaidID(n), n)
	}
	for _, e := range Edges(p) {
		fmt.Fprintf(&b, "  %s -->|%s| %s\n", mermaidID(e.From), shortCondition(e.Condition), mermaidID(e.To))
	}
	return b.String()
}

func shortCondition(c string) string {
	switch c {
	case types.ServiceConditionHealthy:
		return "healthy"
	case types.ServiceConditionCompletedSuccessfully:
		return "completed"
	}
	return "started"
}

func mermaidID(s string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(s)
}

func sortedServiceNames(p *types.Project) []string {
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ImageRef is the image a service runs: its image, or for a build without
// one, "<project>-<service>" as docker compose names it.
func ImageRef(p *types.Project, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return p.Name + "-" + s.Name
}
