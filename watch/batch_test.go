package watch

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

type flushRec struct {
	paths []string
	at    time.Time
	first time.Time
}

func newTestBatcher(c *fakeClock) (*batcher, *[]flushRec) {
	var got []flushRec
	b := newBatcher(c, 75*time.Millisecond, 1500*time.Millisecond, func(p []string, first time.Time) {
		got = append(got, flushRec{paths: p, at: c.Now(), first: first})
	})
	return b, &got
}

func TestDebounceTrailing(t *testing.T) {
	c := newFakeClock()
	b, got := newTestBatcher(c)
	start := c.Now()
	b.add("/a")
	c.Advance(50 * time.Millisecond)
	b.add("/b", "/a")
	c.Advance(74 * time.Millisecond)
	if len(*got) != 0 {
		t.Fatalf("flushed before the quiet period ended: %v", *got)
	}
	c.Advance(time.Millisecond)
	if len(*got) != 1 {
		t.Fatalf("want one flush, got %d", len(*got))
	}
	f := (*got)[0]
	if !reflect.DeepEqual(f.paths, []string{"/a", "/b"}) {
		t.Errorf("paths = %v", f.paths)
	}
	if want := start.Add(125 * time.Millisecond); !f.at.Equal(want) {
		t.Errorf("flushed at %v, want %v", f.at.Sub(start), want.Sub(start))
	}
	if !f.first.Equal(start) {
		t.Errorf("first = %v, want batch start", f.first.Sub(start))
	}
	if c.Pending() != 0 {
		t.Errorf("%d timers left armed", c.Pending())
	}
}

// An event every 50 ms never leaves 75 ms of quiet; the maximum wait must
// still flush every 1.5 s.
func TestDebounceMaxWaitPreventsStarvation(t *testing.T) {
	c := newFakeClock()
	b, got := newTestBatcher(c)
	start := c.Now()
	for i := range 100 { // 5 s of constant events
		b.add(fmt.Sprintf("/f%d", i))
		c.Advance(50 * time.Millisecond)
	}
	if len(*got) != 3 {
		t.Fatalf("want 3 flushes in 5 s of constant events, got %d", len(*got))
	}
	for i, f := range *got {
		if want := start.Add(time.Duration(i+1) * 1500 * time.Millisecond); f.at.After(want) {
			t.Errorf("flush %d at %v, later than the max wait (%v)", i, f.at.Sub(start), want.Sub(start))
		}
		if d := f.at.Sub(f.first); d > 1500*time.Millisecond {
			t.Errorf("flush %d waited %v", i, d)
		}
	}
	c.Advance(75 * time.Millisecond)
	total := 0
	for _, f := range *got {
		total += len(f.paths)
	}
	if total != 100 {
		t.Errorf("%d paths flushed, want 100 (none lost, none doubled)", total)
	}
}

// A checkout of thousands of files within a few ms is one batch.
func TestDebounceCheckoutIsOneBatch(t *testing.T) {
	c := newFakeClock()
	b, got := newTestBatcher(c)
	for i := range 5000 {
		b.add(fmt.Sprintf("/repo/f%d", i))
		if i%1000 == 0 {
			c.Advance(time.Millisecond)
		}
	}
	c.Advance(75 * time.Millisecond)
	if len(*got) != 1 || len((*got)[0].paths) != 5000 {
		t.Fatalf("want one batch of 5000, got %d batches", len(*got))
	}
}

func TestDebounceStop(t *testing.T) {
	c := newFakeClock()
	b, got := newTestBatcher(c)
	b.add("/a")
	b.stop()
	b.add("/b")
	c.Advance(time.Second)
	if len(*got) != 0 {
		t.Fatalf("flushed after stop: %v", *got)
	}
}
