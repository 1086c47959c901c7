package watch

import (
	"sync"
	"time"
)

// batcher collects changed host paths and hands them over as one batch once
// no new path has arrived for quiet, or at the latest maxWait after the first
// path of the batch, so that a never-ending stream of events (a build writing
// into the tree, a log file) cannot postpone syncing forever.
type batcher struct {
	clock   Clock
	quiet   time.Duration
	maxWait time.Duration
	flush   func(paths []string, first time.Time)

	// flushMu keeps flushes in batch order and lets stop wait for one in
	// progress: with a real clock a slow flush may still run when the next
	// batch's timer fires.
	flushMu sync.Mutex

	mu      sync.Mutex
	pending map[string]struct{}
	order   []string // arrival order, so batches are reproducible
	first   time.Time
	timer   Timer
	gen     uint64 // invalidates a timer that fired while being replaced
	stopped bool
}

func newBatcher(c Clock, quiet, maxWait time.Duration, flush func([]string, time.Time)) *batcher {
	return &batcher{clock: c, quiet: quiet, maxWait: maxWait, flush: flush}
}

// add records paths and re-arms the trailing deadline, capped by maxWait.
func (b *batcher) add(paths ...string) {
	if len(paths) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	now := b.clock.Now()
	if b.pending == nil {
		b.pending = make(map[string]struct{})
		b.first = now
	}
	for _, p := range paths {
		if _, ok := b.pending[p]; !ok {
			b.pending[p] = struct{}{}
			b.order = append(b.order, p)
		}
	}
	deadline := now.Add(b.quiet)
	if limit := b.first.Add(b.maxWait); limit.Before(deadline) {
		deadline = limit
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.gen++
	gen := b.gen
	b.timer = b.clock.AfterFunc(deadline.Sub(now), func() { b.fire(gen) })
}

func (b *batcher) fire(gen uint64) {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	if gen != b.gen || b.pending == nil || b.stopped {
		b.mu.Unlock()
		return
	}
	paths, first := b.order, b.first
	b.pending, b.order, b.timer = nil, nil, nil
	b.mu.Unlock()
	b.flush(paths, first)
}

// stop discards pending paths; when it returns no flush is running and none
// will start.
func (b *batcher) stop() {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.pending, b.order, b.timer = nil, nil, nil
}
