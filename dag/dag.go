// Package dag runs a graph of tasks with one bounded worker pool. It knows
// nothing of containers: the orchestrator turns plan operations into tasks.
package dag

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Task is one node. Run must honour ctx.
type Task struct {
	ID   string
	Deps []string
	Run  func(ctx context.Context) error
}

// Status of a task in an Event.
type Status int

const (
	Started Status = iota
	Done
	Failed
	// Skipped tasks never ran because a failure or cancellation came first.
	Skipped
)

func (s Status) String() string {
	return [...]string{"started", "done", "failed", "skipped"}[s]
}

// Event reports progress; the callback is called from one goroutine at a
// time, in order.
type Event struct {
	ID      string
	Status  Status
	Err     error
	Elapsed time.Duration
}

// Options tune a run.
type Options struct {
	// Parallel bounds concurrent tasks; <= 0 means unbounded.
	Parallel int
	// Notify, when set, receives every event.
	Notify func(Event)
	// Now is the clock for Elapsed; nil means time.Now.
	Now func() time.Time
}

// Run executes tasks respecting Deps. After the first failure no new task
// starts and running ones are cancelled; Run returns once every started task
// has returned. The error joins every failure that was not a consequence of
// that cancellation.
func Run(ctx context.Context, tasks []Task, o Options) error {
	if err := check(tasks); err != nil {
		return err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	notify := o.Notify
	if notify == nil {
		notify = func(Event) {}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	byID := map[string]*Task{}
	waiting := map[string]int{} // unfinished deps
	dependents := map[string][]string{}
	for i := range tasks {
		t := &tasks[i]
		byID[t.ID] = t
		waiting[t.ID] = len(t.Deps)
		for _, d := range t.Deps {
			dependents[d] = append(dependents[d], t.ID)
		}
	}
	var ready []string
	for _, t := range tasks {
		if waiting[t.ID] == 0 {
			ready = append(ready, t.ID)
		}
	}
	type result struct {
		id  string
		err error
		d   time.Duration
	}
	results := make(chan result)
	running, finished := 0, 0
	started := map[string]bool{}
	var errs []error
	failed := false
	for finished < len(tasks) {
		stop := failed || ctx.Err() != nil
		for !stop && len(ready) > 0 && (o.Parallel <= 0 || running < o.Parallel) {
			id := ready[0]
			ready = ready[1:]
			started[id] = true
			running++
			notify(Event{ID: id, Status: Started})
			go func(t *Task) {
				t0 := now()
				err := t.Run(runCtx)
				results <- result{id: t.ID, err: err, d: now().Sub(t0)}
			}(byID[id])
		}
		if running == 0 {
			break // nothing more can start: failure, cancellation
		}
		r := <-results
		running--
		finished++
		if r.err != nil {
			notify(Event{ID: r.id, Status: Failed, Err: r.err, Elapsed: r.d})
			// Tasks cancelled because of an earlier failure are not causes.
			if !(failed && errors.Is(r.err, context.Canceled)) {
				err := r.err
				// Engines name what failed too ("start container web-1:
				// ...", "service web: ..."): say it once.
				if !namesTask(err.Error(), r.id) {
					err = fmt.Errorf("%s: %w", r.id, err)
				}
				errs = append(errs, err)
			}
			if !failed {
				failed = true
				cancel()
			}
			continue
		}
		notify(Event{ID: r.id, Status: Done, Elapsed: r.d})
		for _, dep := range dependents[r.id] {
			waiting[dep]--
			if waiting[dep] == 0 {
				ready = append(ready, dep)
			}
		}
	}
	var skipped []string
	for _, t := range tasks {
		if !started[t.ID] {
			skipped = append(skipped, t.ID)
		}
	}
	sort.Strings(skipped)
	for _, id := range skipped {
		notify(Event{ID: id, Status: Skipped})
	}
	if len(errs) == 0 && ctx.Err() != nil && len(skipped) > 0 {
		return ctx.Err()
	}
	if len(errs) == 0 && ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// check rejects unknown dependencies and cycles before anything runs.
func check(tasks []Task) error {
	ids := map[string]*Task{}
	for i := range tasks {
		if _, dup := ids[tasks[i].ID]; dup {
			return fmt.Errorf("task %q appears twice", tasks[i].ID)
		}
		ids[tasks[i].ID] = &tasks[i]
	}
	for _, t := range tasks {
		for _, d := range t.Deps {
			if _, ok := ids[d]; !ok {
				return fmt.Errorf("task %q depends on unknown task %q", t.ID, d)
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(id string) error
	visit = func(id string) error {
		color[id] = grey
		stack = append(stack, id)
		deps := append([]string(nil), ids[id].Deps...)
		sort.Strings(deps)
		for _, d := range deps {
			switch color[d] {
			case grey:
				i := len(stack) - 1
				for stack[i] != d {
					i--
				}
				cycle := append(append([]string(nil), stack[i:]...), d)
				return fmt.Errorf("dependency cycle: %s", strings.Join(cycle, " -> "))
			case white:
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return nil
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	for _, id := range sorted {
		if color[id] == white {
			if err := visit(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// namesTask reports whether msg begins by naming the task id: its first
// clause (up to ": ") is id, or ends with it as a word ("service web"
// for the task web).
func namesTask(msg, id string) bool {
	first, _, ok := strings.Cut(msg, ": ")
	return ok && (first == id || strings.HasSuffix(first, " "+id))
}
