package orchestrate

import (
	"context"
	"fmt"
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
	if err := o.Attach(context.Background(), []engine.Container{*f.containers["1"]}, time.Now(), func(l LogLine) {
		if l.Exited {
			got = append(got, fmt.Sprintf("%s exited %d", l.Container.Name, l.ExitCode))
		}
	}); err != nil || len(got) != 1 || got[0] != "p-job-1 exited 3" {
		t.Errorf("attach: %q, %v", got, err)
	}
}
