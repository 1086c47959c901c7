package dag

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestOrderAndParallelism(t *testing.T) {
	var mu sync.Mutex
	var order []string
	var cur, peak int32
	gate := make(chan struct{})
	mk := func(id string, deps ...string) Task {
		return Task{ID: id, Deps: deps, Run: func(ctx context.Context) error {
			n := atomic.AddInt32(&cur, 1)
			for {
				p := atomic.LoadInt32(&peak)
				if n <= p || atomic.CompareAndSwapInt32(&peak, p, n) {
					break
				}
			}
			if strings.HasPrefix(id, "leaf") {
				<-gate
			}
			mu.Lock()
			order = append(order, id)
			mu.Unlock()
			atomic.AddInt32(&cur, -1)
			return nil
		}}
	}
	tasks := []Task{mk("root"), mk("leaf1", "root"), mk("leaf2", "root"), mk("leaf3", "root"), mk("end", "leaf1", "leaf2", "leaf3")}
	done := make(chan error)
	go func() { done <- Run(context.Background(), tasks, Options{Parallel: 2}) }()
	// Three leaves are ready but only two may run; release them one by one.
	for i := 0; i < 3; i++ {
		gate <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if order[0] != "root" || order[len(order)-1] != "end" {
		t.Errorf("order %v", order)
	}
	if peak > 2 {
		t.Errorf("peak parallelism %d > 2", peak)
	}
}

func TestFailureCancelsAndSkips(t *testing.T) {
	var events []string
	boom := errors.New("boom")
	tasks := []Task{
		{ID: "a", Run: func(ctx context.Context) error { return boom }},
		{ID: "slow", Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{ID: "b", Deps: []string{"a"}, Run: func(ctx context.Context) error { t.Error("b ran"); return nil }},
	}
	err := Run(context.Background(), tasks, Options{Notify: func(e Event) { events = append(events, e.ID+":"+e.Status.String()) }})
	if !errors.Is(err, boom) || err.Error() != "a: boom" {
		t.Fatalf("err %v", err)
	}
	got := strings.Join(events, " ")
	if !strings.Contains(got, "b:skipped") || !strings.Contains(got, "slow:failed") {
		t.Errorf("events %s", got)
	}
}

// A task whose error already names it is not named twice.
func TestErrorNamesTaskOnce(t *testing.T) {
	boom := errors.New("boom")
	tasks := []Task{{ID: "start container web-1", Run: func(ctx context.Context) error {
		return fmt.Errorf("start container web-1: %w", boom)
	}}}
	err := Run(context.Background(), tasks, Options{})
	if !errors.Is(err, boom) || err.Error() != "start container web-1: boom" {
		t.Fatalf("err %v", err)
	}
	// The swarm engine names a service as "service NAME", its task NAME;
	// a message that names another task, or none, gets the task's name.
	for _, c := range []struct{ id, msg, want string }{
		{"crowd", "service crowd: 3/4 running", "service crowd: 3/4 running"},
		{"crowd", "service crowdy: 3/4 running", "crowd: service crowdy: 3/4 running"},
		{"web", "no such image", "web: no such image"},
		{"web", "pull web", "web: pull web"},
	} {
		tasks := []Task{{ID: c.id, Run: func(ctx context.Context) error { return errors.New(c.msg) }}}
		if err := Run(context.Background(), tasks, Options{}); err == nil || err.Error() != c.want {
			t.Errorf("task %s failing with %q: err %v, want %q", c.id, c.msg, err, c.want)
		}
	}
}

func TestParentCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tasks := []Task{
		{ID: "a", Run: func(context.Context) error { cancel(); return nil }},
		{ID: "b", Deps: []string{"a"}, Run: func(context.Context) error { t.Error("b ran"); return nil }},
	}
	if err := Run(ctx, tasks, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestCheck(t *testing.T) {
	noop := func(context.Context) error { return nil }
	err := Run(context.Background(), []Task{{ID: "a", Deps: []string{"b"}, Run: noop}, {ID: "b", Deps: []string{"a"}, Run: noop}}, Options{})
	if err == nil || err.Error() != "dependency cycle: a -> b -> a" {
		t.Errorf("cycle: %v", err)
	}
	err = Run(context.Background(), []Task{{ID: "a", Deps: []string{"x"}, Run: noop}}, Options{})
	if err == nil || err.Error() != `task "a" depends on unknown task "x"` {
		t.Errorf("unknown: %v", err)
	}
}
