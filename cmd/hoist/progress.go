package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/hoist-dev/hoist/orchestrate"
)

// renderer shows orchestrator events: a live view on a terminal, plain lines
// otherwise, JSON lines with --progress json, nothing with quiet.
type renderer struct {
	mu    sync.Mutex
	w     io.Writer
	mode  string
	rows  []*row
	index map[string]*row
	drawn int
}

type row struct {
	key, text, status string
	elapsed           time.Duration
}

func newRenderer(w io.Writer, mode string) *renderer {
	if mode == "auto" || mode == "" {
		mode = "plain"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "tty"
		}
	}
	return &renderer{w: w, mode: mode, index: map[string]*row{}}
}

// words maps an op to its resource and its -ing and -ed verbs.
var words = map[string][3]string{
	"pull":             {"Image", "Pulling", "Pulled"},
	"push":             {"Image", "Pushing", "Pushed"},
	"build":            {"Image", "Building", "Built"},
	"create network":   {"Network", "Creating", "Created"},
	"create volume":    {"Volume", "Creating", "Created"},
	"create container": {"Container", "Creating", "Created"},
	"start container":  {"Container", "Starting", "Started"},
	"wait running":     {"Container", "Waiting", "Running"},
	"wait healthy":     {"Container", "Waiting", "Healthy"},
	"wait completed":   {"Container", "Waiting", "Exited"},
	"stop container":   {"Container", "Stopping", "Stopped"},
	"remove container": {"Container", "Removing", "Removed"},
	"remove network":   {"Network", "Removing", "Removed"},
	"remove volume":    {"Volume", "Removing", "Removed"},
	"remove image":     {"Image", "Removing", "Removed"},
	"provider":         {"Service", "Creating", "Created"},
	"provider down":    {"Service", "Removing", "Removed"},

	// The commands of docker compose parity (issue 16).
	orchestrate.OpPause:   {"Container", "Pausing", "Paused"},
	orchestrate.OpUnpause: {"Container", "Unpausing", "Unpaused"},
	orchestrate.OpExport:  {"Container", "Exporting", "Exported"},
	orchestrate.OpCommit:  {"Container", "Committing", "Committed"},
	orchestrate.OpPublish: {"Artifact", "Publishing", "Published"},
}

func (r *renderer) event(e orchestrate.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.mode {
	case "quiet":
		if e.Status == orchestrate.StatusWarning {
			fmt.Fprintln(r.w, "WARN", e.Message)
		}
		return
	case "json":
		out := map[string]any{"time": e.Time.Format(time.RFC3339Nano), "status": e.Status}
		if e.Op != "" {
			out["op"], out["target"] = e.Op, e.Target
		}
		if e.Message != "" {
			out["message"] = e.Message
		}
		if e.Elapsed > 0 {
			out["elapsed_ms"] = float64(e.Elapsed.Microseconds()) / 1000
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(r.w, string(b))
		return
	}
	if e.Op == "" {
		r.clear()
		prefix := ""
		if e.Status == orchestrate.StatusWarning {
			prefix = "WARN "
		}
		fmt.Fprintln(r.w, prefix+e.Message)
		r.redraw()
		return
	}
	w := words[e.Op]
	label := fmt.Sprintf("%s %s", w[0], e.Target)
	var text string
	switch e.Status {
	case "started":
		text = w[1]
	case "done":
		text = w[2]
	case "failed":
		text = "Error " + e.Message
	case "skipped":
		text = "Skipped"
	case orchestrate.StatusInfo:
		text = w[1] + " " + e.Message
	}
	if r.mode == "plain" {
		line := fmt.Sprintf(" %s  %s", label, text)
		if e.Elapsed > 0 {
			line += fmt.Sprintf(" %.1fs", e.Elapsed.Seconds())
		}
		fmt.Fprintln(r.w, line)
		return
	}
	key := w[0] + " " + e.Target
	rw, ok := r.index[key]
	if !ok {
		rw = &row{key: key}
		r.index[key] = rw
		r.rows = append(r.rows, rw)
	}
	rw.text, rw.status, rw.elapsed = text, e.Status, e.Elapsed
	r.clear()
	r.redraw()
}

// clear moves the cursor up over the live block and erases it.
func (r *renderer) clear() {
	if r.mode != "tty" || r.drawn == 0 {
		return
	}
	fmt.Fprintf(r.w, "\x1b[%dA\x1b[J", r.drawn)
	r.drawn = 0
}

func (r *renderer) redraw() {
	if r.mode != "tty" {
		return
	}
	for _, rw := range r.rows {
		mark := "⠿"
		switch rw.status {
		case "done":
			mark = "\x1b[32m✔\x1b[0m"
		case "failed":
			mark = "\x1b[31m✘\x1b[0m"
		}
		line := fmt.Sprintf(" %s %-40s %s", mark, rw.key, rw.text)
		if rw.elapsed > 0 {
			line += fmt.Sprintf(" %.1fs", rw.elapsed.Seconds())
		}
		if len(line) > 160 {
			line = line[:160]
		}
		fmt.Fprintln(r.w, strings.TrimRight(line, " "))
	}
	r.drawn = len(r.rows)
}
