package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// median of xs (the mean of the middle two for an even count); ok is false
// for no samples.
func median(xs []float64) (m float64, ok bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// Operation names, in table order.
const (
	opUp    = "up -d"
	opReady = "up -d until :5001 answers"
	opNoop  = "no-op up -d"
	opDown  = "down"
)

var opOrder = []string{opUp, opReady, opNoop, opDown}

// Tool names of the columns.
const (
	toolNative = "hoist native"
	toolDocker = "hoist docker"
	peerDC     = "docker-compose"
)

// results holds every sample, in seconds: scenario -> operation -> tool -> runs.
type results struct {
	scenarios []string // in run order
	hoists    []string // hoist's columns (one per engine)
	peers     []string // the peers' columns
	tools     []string // hoists, then peers
	ops       []string // operation order (default opOrder)
	samples   map[string]map[string]map[string][]float64
	errors    []string
}

func newResults(hoists, peers []string) *results {
	return &results{
		hoists: hoists, peers: peers, tools: append(slices.Clone(hoists), peers...),
		ops: opOrder, samples: map[string]map[string]map[string][]float64{},
	}
}

func (r *results) add(sc, op, tool string, d time.Duration) {
	if r.samples[sc] == nil {
		r.samples[sc] = map[string]map[string][]float64{}
		r.scenarios = append(r.scenarios, sc)
	}
	if r.samples[sc][op] == nil {
		r.samples[sc][op] = map[string][]float64{}
	}
	r.samples[sc][op][tool] = append(r.samples[sc][op][tool], d.Seconds())
}

func (r *results) median(sc, op, tool string) (float64, bool) {
	return median(r.samples[sc][op][tool])
}

// goal is a target we track, checked against the figures of the same run.
type goal struct {
	scenario, op string
	text         string
	check        func(r *results) (value string, met, ok bool)
}

// below: tool's median of sc/op under limit seconds.
func below(sc, op, tool string, limit float64, text string) goal {
	return goal{scenario: sc, op: op, text: text, check: func(r *results) (string, bool, bool) {
		v, ok := r.median(sc, op, tool)
		if !ok {
			return "", false, false
		}
		return fmt.Sprintf("%.3f s", v), v < limit, true
	}}
}

// ratioAtMost: tool's median over peer's median of sc/op at most limit.
func ratioAtMost(sc, op, tool, peer string, limit float64, text string) goal {
	return goal{scenario: sc, op: op, text: text, check: func(r *results) (string, bool, bool) {
		h, ok1 := r.median(sc, op, tool)
		p, ok2 := r.median(sc, op, peer)
		if !ok1 || !ok2 || p == 0 {
			return "", false, false
		}
		return fmt.Sprintf("%.2f", h/p), h/p <= limit, true
	}}
}

var goals = []goal{
	// "Native engine, part 2": 1 s plus the sample's healthcheck interval (1 s).
	below("sample", opReady, toolNative, 2, "native < 2 s"),
	ratioAtMost("fan20", opUp, toolDocker, peerDC, 0.70, "docker ratio ≤ 0.70"),
	below("fan20", opUp, toolNative, 1, "native < 1 s"),
	below("fan20", opDown, toolNative, 0.5, "native < 0.5 s"),
	below("fan50", opNoop, toolDocker, 0.15, "docker < 0.15 s"),
	// "Native builder" (bench/build.go).
	ratioAtMost("build", opRebuild, toolNative, toolDocker, 0.5, "native ≤ 0.5× docker"),
	below("build", opNoChange, toolNative, 0.2, "native < 0.2 s"),
}

func goalCell(r *results, sc, op string) string {
	var cells []string
	for _, g := range goals {
		if g.scenario != sc || g.op != op {
			continue
		}
		v, met, ok := g.check(r)
		switch {
		case !ok:
			cells = append(cells, g.text+": no data")
		case met:
			cells = append(cells, g.text+": met ("+v+")")
		default:
			cells = append(cells, g.text+": **missed** ("+v+")")
		}
	}
	return strings.Join(cells, "; ")
}

// fmtSecs prints a duration in seconds with precision suited to its size.
func fmtSecs(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.3f", s)
	case s < 10:
		return fmt.Sprintf("%.2f", s)
	default:
		return fmt.Sprintf("%.1f", s)
	}
}

// table renders the main markdown table: one row per scenario × operation;
// a column per tool, then the ratio of each hoist column to each peer.
func (r *results) table() string {
	head := []string{"scenario", "operation", "n"}
	for _, t := range r.tools {
		head = append(head, t+" (s)")
	}
	type pair struct{ h, p string }
	var ratios []pair
	for _, p := range r.peers {
		for _, h := range r.hoists {
			ratios = append(ratios, pair{h, p})
			head = append(head, "ratio "+strings.TrimPrefix(h, "hoist ")+"/"+p)
		}
	}
	head = append(head, "goal")
	var rows [][]string
	for _, sc := range r.scenarios {
		for _, op := range r.ops {
			byTool, ok := r.samples[sc][op]
			if !ok {
				continue
			}
			n := 0
			for _, xs := range byTool {
				n = max(n, len(xs))
			}
			row := []string{sc, op, fmt.Sprint(n)}
			for _, t := range r.tools {
				v, ok := median(byTool[t])
				row = append(row, cell(v, ok))
			}
			for _, rp := range ratios {
				h, hok := median(byTool[rp.h])
				v, ok := median(byTool[rp.p])
				if hok && ok && v > 0 {
					row = append(row, fmt.Sprintf("%.2f", h/v))
				} else {
					row = append(row, "–")
				}
			}
			row = append(row, goalCell(r, sc, op))
			rows = append(rows, row)
		}
	}
	return markdownTable(head, rows, []bool{false, false, true})
}

func cell(v float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmtSecs(v)
}

// raw lists every sample, so the spread behind each median is visible.
func (r *results) raw() string {
	var b strings.Builder
	for _, sc := range r.scenarios {
		for _, op := range r.ops {
			byTool, ok := r.samples[sc][op]
			if !ok {
				continue
			}
			for _, t := range r.tools {
				xs := byTool[t]
				if len(xs) == 0 {
					continue
				}
				parts := make([]string, len(xs))
				for i, x := range xs {
					parts[i] = fmtSecs(x)
				}
				fmt.Fprintf(&b, "- %s / %s / %s: %s\n", sc, op, t, strings.Join(parts, ", "))
			}
		}
	}
	return b.String()
}

// markdownTable pads cells so the table also reads well as plain text.
// right[i] right-aligns column i; columns past len(right) are right-aligned
// except the last one.
func markdownTable(head []string, rows [][]string, right []bool) string {
	w := make([]int, len(head))
	for i, h := range head {
		w[i] = max(3, textWidth(h))
	}
	for _, r := range rows {
		for i, c := range r {
			if i < len(w) {
				w[i] = max(w[i], textWidth(c))
			}
		}
	}
	alignRight := func(i int) bool {
		if i < len(right) {
			return right[i]
		}
		return i != len(head)-1
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i := range head {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			pad := strings.Repeat(" ", w[i]-textWidth(c))
			if alignRight(i) {
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		b.WriteString("\n")
	}
	line(head)
	b.WriteString("|")
	for i := range head {
		if alignRight(i) {
			b.WriteString(" " + strings.Repeat("-", w[i]-1) + ": |")
		} else {
			b.WriteString(" " + strings.Repeat("-", w[i]) + " |")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

func textWidth(s string) int { return len([]rune(s)) }
