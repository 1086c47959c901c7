package native

import (
	"errors"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// Top lists the container's processes, and only those, as ps -ef rows.
func TestTop(t *testing.T) {
	b := newBackend(t)
	spec := testSpec("top", "box", "sh", "-c", "sleep 301 & exec sleep 302")
	init := true
	spec.Service.Init = &init
	id, _ := run(t, b, spec.resolved(), engine.WaitRunning)
	var titles []string
	var rows [][]string
	var err error
	for i := 0; i < 100; i++ { // until the background sleep is up
		if titles, rows, err = b.Top(testCtx(t), id); err != nil {
			t.Fatal(err)
		}
		if len(rows) >= 3 {
			break
		}
	}
	if strings.Join(titles, " ") != "UID PID PPID C STIME TTY TIME CMD" {
		t.Errorf("titles %q", titles)
	}
	var cmds []string
	for _, r := range rows {
		cmds = append(cmds, r[7])
		if r[0] != "root" {
			t.Errorf("row %q: user %q, want root", r, r[0])
		}
	}
	got := strings.Join(cmds, "|")
	if len(rows) != 3 || !strings.Contains(got, "sleep 301") || !strings.Contains(got, "sleep 302") || !strings.Contains(got, "hoist-runtime:init") {
		t.Fatalf("processes %q, want the init and the two sleeps only", got)
	}
	if err := b.StopContainer(testCtx(t), id, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Top(testCtx(t), id); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("Top of a stopped container = %v, want ErrConflict", err)
	}
}
