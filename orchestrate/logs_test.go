package orchestrate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// A followed container's exit is reported after its output, with its
// code; one already stopped when the follow began has no exit line.
func TestFollowReportsExits(t *testing.T) {
	f := newFake()
	f.containers["1"] = &engine.Container{ID: "1", Name: "p-job-1", Project: "p", Service: "job", State: engine.StateExited, ExitCode: 3}
	f.containers["2"] = &engine.Container{ID: "2", Name: "p-old-1", Project: "p", Service: "old", State: engine.StateExited}
	o := &Orchestrator{Backend: f}
	job := *f.containers["1"]
	job.State = engine.StateRunning // as listed before it exited
	var got []string
	err := o.Logs(context.Background(), []engine.Container{job}, engine.LogOptions{Follow: true}, func(l LogLine) {
		if l.Exited {
			got = append(got, fmt.Sprintf("%s exited %d", l.Container.Name, l.ExitCode))
		} else {
			got = append(got, l.Text)
		}
	})
	if err != nil || len(got) != 2 || got[0] != "output of p-job-1" || got[1] != "p-job-1 exited 3" {
		t.Errorf("running then exited: %q, %v", got, err)
	}
	got = nil
	if err := o.Logs(context.Background(), []engine.Container{*f.containers["2"]}, engine.LogOptions{Follow: true}, func(l LogLine) {
		if l.Exited {
			got = append(got, "exit line")
		}
	}); err != nil || len(got) != 0 {
		t.Errorf("already stopped: %q, %v", got, err)
	}
	// up's Attach: a container it started may have exited before it was
	// listed; its exit is news all the same.
	got = nil
	if err := o.Attach(context.Background(), []engine.Container{*f.containers["1"]}, nil, time.Now(), func(l LogLine) {
		if l.Exited {
			got = append(got, fmt.Sprintf("%s exited %d", l.Container.Name, l.ExitCode))
		}
	}); err != nil || len(got) != 1 || got[0] != "p-job-1 exited 3" {
		t.Errorf("attach: %q, %v", got, err)
	}
}

// Attach shows a container up created whole, and one it started again
// from when up began.
func TestAttachSince(t *testing.T) {
	f := newFake()
	f.containers["1"] = &engine.Container{ID: "1", Name: "p-new-1", Project: "p", Service: "new", State: engine.StateExited}
	f.containers["2"] = &engine.Container{ID: "2", Name: "p-old-1", Project: "p", Service: "old", State: engine.StateExited}
	o := &Orchestrator{Backend: f}
	cs := []engine.Container{*f.containers["1"], *f.containers["2"]}
	if err := o.Attach(context.Background(), cs, map[string]bool{"p-new-1": true}, time.Now(), func(LogLine) {}); err != nil {
		t.Fatal(err)
	}
	log := f.callLog()
	if !strings.Contains(log, "logs p-new-1 since=false") || !strings.Contains(log, "logs p-old-1 since=true") {
		t.Errorf("calls:\n%s", log)
	}
}
