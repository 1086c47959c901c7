package enginetest

import (
	"errors"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
)

// testStats is hoist stats: a busy container's CPU time grows by a good
// share of the time between two reads; its memory limit, memory use and
// process count are what it was given and runs; a stopped container has
// no stats.
func testStats(t *testing.T, h *harness) {
	sr := h.b.(engine.StatsReader)
	svc := h.service("busy", "sh", "-c", "sleep 300 & sleep 301 & touch /ready; while :; do :; done")
	svc.MemLimit = types.UnitBytes(64 << 20)
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	h.mustExec(id, "while ! test -e /ready; do sleep 0.05; done")
	first, err := sr.Stats(h.ctx(), id)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	// An observation window: the rate needs two reads apart in time.
	time.Sleep(500 * time.Millisecond)
	second, err := sr.Stats(h.ctx(), id)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	wall := second.Read.Sub(first.Read)
	if wall <= 0 {
		t.Fatalf("reads at %v then %v: time did not advance", first.Read, second.Read)
	}
	// A shell spinning on one of two busy cores: well over 10%.
	if cpu := float64(second.CPUNanos-first.CPUNanos) / float64(wall); second.CPUNanos <= first.CPUNanos || cpu < 0.1 {
		t.Errorf("CPU %d ns then %d ns over %v (%.0f%%), want a busy loop's share", first.CPUNanos, second.CPUNanos, wall, cpu*100)
	}
	if second.MemoryLimit != 64<<20 {
		t.Errorf("memory limit %d, want 64 MiB", second.MemoryLimit)
	}
	if second.MemoryUsage == 0 || second.MemoryUsage > 64<<20 {
		t.Errorf("memory usage %d, want some and under the limit", second.MemoryUsage)
	}
	// init, the shell and its two sleeps.
	if second.Pids < 4 {
		t.Errorf("pids %d, want at least 4", second.Pids)
	}
	if err := h.b.StopContainer(h.ctx(), id, 0); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if _, err := sr.Stats(h.ctx(), id); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("Stats of a stopped container = %v, want ErrConflict", err)
	}
}
