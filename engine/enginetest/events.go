package enginetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// testEvents is hoist events: a container that exits with 3 and is
// restarted by its policy shows as die (exitCode 3) then start, with
// its service, name and image; the stream ends with its context.
func testEvents(t *testing.T, h *harness) {
	es := h.b.(engine.EventStreamer)
	svc := h.service("flapper", "sh", "-c", "sleep 0.3; exit 3")
	svc.Restart = "always"
	spec := h.spec(svc)
	id := h.run(spec)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := make(chan engine.ContainerEvent, 256)
	done := make(chan error, 1)
	go func() {
		done <- es.Events(ctx, h.project, engine.EventOptions{}, func(e engine.ContainerEvent) {
			if e.ID == id {
				got <- e
			}
		})
	}()
	sawDie := false
	for !sawDie {
		select {
		case e := <-got:
			if e.Action != "die" {
				continue
			}
			sawDie = true
			if e.Attributes["exitCode"] != "3" {
				t.Errorf("die event exitCode %q, want 3", e.Attributes["exitCode"])
			}
			if e.Service != "flapper" || e.Attributes["name"] != spec.Name || e.Attributes["image"] == "" {
				t.Errorf("die event %+v: want service flapper, name %s and the image", e, spec.Name)
			}
			if e.Time.IsZero() || time.Since(e.Time) > timeout {
				t.Errorf("die event time %v", e.Time)
			}
		case err := <-done:
			t.Fatalf("Events returned before a die: %v", err)
		case <-ctx.Done():
			t.Fatal("no die event of a container exiting every 0.3 s")
		}
	}
	for sawStart := false; !sawStart; {
		select {
		case e := <-got:
			sawStart = e.Action == "start"
		case err := <-done:
			t.Fatalf("Events returned before a start: %v", err)
		case <-ctx.Done():
			t.Fatal("no start event after the die of a container its policy restarts")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Events after its context ended = %v, want context.Canceled", err)
		}
	case <-time.After(timeout):
		t.Fatal("Events did not return when its context ended")
	}
}
