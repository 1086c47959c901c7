package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/fsnotify/fsnotify"
)

// Options tune batching and loop detection. Zero values take the defaults.
type Options struct {
	// Debounce is the quiet period that closes a batch (default 75 ms).
	Debounce time.Duration
	// MaxWait caps how long a batch stays open under a constant stream of
	// events (default 1.5 s).
	MaxWait time.Duration
	// LoopLimit is how many times in a row a rule may be re-triggered by an
	// identical change set first seen while its action ran, or within
	// LoopGap after it finished, before it is paused (default 5).
	LoopLimit int
	// LoopGap: see LoopLimit (default 2 s).
	LoopGap time.Duration
}

func (o Options) withDefaults() Options {
	if o.Debounce <= 0 {
		o.Debounce = 75 * time.Millisecond
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 1500 * time.Millisecond
	}
	if o.MaxWait < o.Debounce {
		o.MaxWait = o.Debounce
	}
	if o.LoopLimit <= 0 {
		o.LoopLimit = 5
	}
	if o.LoopGap <= 0 {
		o.LoopGap = 2 * time.Second
	}
	return o
}

// Config is everything Run needs.
type Config struct {
	Services   []Service
	Controller Controller
	Clock      Clock // nil: RealClock
	Sink       Sink  // nil: events are dropped
	Options    Options
}

// Run watches the configured paths and drives the Controller until ctx is
// cancelled, then waits for in-flight actions and returns nil. It returns an
// error when watching cannot continue faithfully: inotify limits (with the
// sysctl to raise), or an unexpected watcher error.
func Run(ctx context.Context, cfg Config) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return limitError("(inotify init)", err)
	}
	defer fsw.Close()
	w, err := newWatcher(ctx, cfg, fsw.Add, fsw.Remove)
	if err != nil {
		return err
	}
	defer w.shutdown()
	if err := w.start(); err != nil {
		return err
	}
	return w.loop(fsw)
}

// loop feeds fsnotify's events and errors to the watcher until ctx ends.
func (w *watcher) loop(fsw *fsnotify.Watcher) error {
	for {
		select {
		case <-w.ctx.Done():
			return nil
		case ev, ok := <-fsw.Events:
			if !ok {
				return nil
			}
			if err := w.handleEvent(ev); err != nil {
				return err
			}
		case err, ok := <-fsw.Errors:
			if !ok {
				return nil
			}
			if err := w.handleError(err); err != nil {
				return err
			}
		}
	}
}

// watcher is the state behind Run. It is split from the fsnotify loop so
// tests can feed it events and errors directly.
type watcher struct {
	ctx   context.Context
	ctrl  Controller
	clock Clock
	sink  Sink
	opts  Options
	rs    *ruleSet
	batch *batcher

	mu     sync.Mutex // guards tree, loops, paused, flushing
	tree   *tree
	loops  map[int]*loopState
	paused map[int]bool

	queues map[string]*queue
	wg     sync.WaitGroup
	remove func(string) error
}

// add and remove register and drop an inotify watch on a directory.
func newWatcher(ctx context.Context, cfg Config, add, remove func(string) error) (*watcher, error) {
	if cfg.Controller == nil {
		return nil, errors.New("watch: no controller")
	}
	w := &watcher{
		ctx:    ctx,
		ctrl:   cfg.Controller,
		clock:  cfg.Clock,
		sink:   cfg.Sink,
		opts:   cfg.Options.withDefaults(),
		loops:  map[int]*loopState{},
		paused: map[int]bool{},
		queues: map[string]*queue{},
		remove: remove,
	}
	if w.clock == nil {
		w.clock = RealClock()
	}
	if w.sink == nil {
		w.sink = func(Event) {}
	}
	rs, err := compile(cfg.Services, w.emit)
	if err != nil {
		return nil, err
	}
	w.rs = rs
	for _, s := range rs.services {
		w.queues[s] = &queue{}
	}
	w.tree = newTree(rs, add)
	w.batch = newBatcher(w.clock, w.opts.Debounce, w.opts.MaxWait, w.flush)
	return w, nil
}

func (w *watcher) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = w.clock.Now()
	}
	w.sink(e)
}

// start registers the watches, then performs initial_sync.
func (w *watcher) start() error {
	began := w.clock.Now()
	w.mu.Lock()
	snap, err := w.tree.scanAll()
	if err != nil {
		w.mu.Unlock()
		return err
	}
	w.tree.snap = snap
	dirs := len(w.tree.dirs)
	var contribs []*contrib
	if slices.ContainsFunc(w.rs.all, func(r *rule) bool { return r.initialSync }) {
		paths := make([]string, 0, len(snap))
		for p := range snap {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		contribs = w.classify(paths)
	}
	w.mu.Unlock()
	w.emit(Event{Stage: StageReady, Files: dirs, Duration: w.clock.Now().Sub(began),
		Message: fmt.Sprintf("watching %d directories", dirs)})

	initial := map[string]*work{}
	for _, c := range contribs {
		if !c.rule.initialSync || len(c.changes) == 0 {
			continue
		}
		wk := initial[c.rule.service]
		if wk == nil {
			wk = newWork()
			initial[c.rule.service] = wk
		}
		for _, ch := range c.changes {
			wk.changes[ch.ContainerPath] = ch
		}
	}
	for _, s := range w.rs.services {
		if wk := initial[s]; wk != nil {
			w.push(s, wk)
		}
	}
	return nil
}

// shutdown stops batching and waits for running actions; their ctx is
// already cancelled, so it does not wait long.
func (w *watcher) shutdown() {
	w.batch.stop()
	w.wg.Wait()
}

func (w *watcher) handleEvent(ev fsnotify.Event) error {
	p := filepath.Clean(ev.Name)
	if editorFile(filepath.Base(p)) || ev.Op == 0 {
		return nil
	}
	seen := w.clock.Now()
	paths := []string{p}
	if ev.Has(fsnotify.Rename) {
		w.dropMovedWatches(p)
	}
	if ev.Has(fsnotify.Create) {
		fi, err := os.Lstat(p)
		// Only files are candidates: a directory's deletion must always
		// reach the container.
		if err != nil || !fi.IsDir() {
			w.mu.Lock()
			_, known := w.tree.snap[p]
			_, dir := w.tree.dirs[p]
			if !known && !dir {
				w.tree.born[p] = true
			}
			w.mu.Unlock()
		}
		if err == nil && fi.IsDir() {
			// A new directory needs its own watch, and whatever was written
			// into it before the watch existed produced no event.
			w.mu.Lock()
			err := w.tree.scanDir(p, w.tree.snap, func(f string) { paths = append(paths, f) })
			w.mu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	w.batch.add(paths...)
	// Reported after the batch holds the paths, so that whoever waits for
	// this event can rely on them being pending.
	w.emit(Event{Stage: StageSeen, Time: seen, Path: p, Files: len(paths), Message: ev.Op.String()})
	return nil
}

// dropMovedWatches removes the watches of a directory renamed away from p,
// and of the directories below it. inotify watches follow the inode, so
// without this, events from the moved tree would keep arriving under the old
// names, and a re-add under the new name would be merged into the stale
// watch. The new name, if inside the tree, arrives as a Create and gets
// fresh watches. tree.dirs keeps the entries until the flush, which needs
// them to know the deleted path was a directory.
func (w *watcher) dropMovedWatches(p string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.tree.dirs[p]; !ok {
		return
	}
	for d := range w.tree.dirs {
		if within(p, d) {
			// An error means the watch is already gone; nothing to undo.
			_ = w.remove(d)
		}
	}
}

// handleError turns a queue overflow into a rescan, since events were lost
// and the only faithful answer is to compare the trees against the
// snapshot. inotify reports an overflow for the whole instance, so every
// root is rescanned. Other errors end the watch.
func (w *watcher) handleError(err error) error {
	if !errors.Is(err, fsnotify.ErrEventOverflow) {
		return fmt.Errorf("watch: %w", err)
	}
	w.mu.Lock()
	snap, serr := w.tree.scanAll()
	if serr != nil {
		w.mu.Unlock()
		return serr
	}
	changed := diff(w.tree.snap, snap)
	w.tree.snap = snap
	w.mu.Unlock()
	w.emit(Event{Stage: StageRescan, Files: len(changed),
		Message: fmt.Sprintf("inotify queue overflowed; rescanned, %d paths changed", len(changed))})
	w.batch.add(changed...)
	return nil
}

// contrib is what one rule makes of one batch.
type contrib struct {
	rule    *rule
	changes []Change
	hosts   []string // every accepted host path, for loop detection
}

// classify stats each path and maps it onto the deciding rules. Caller
// holds w.mu.
func (w *watcher) classify(paths []string) []*contrib {
	never := w.bornAndGone(paths)
	byRule := map[int]*contrib{}
	skipped := map[string]bool{}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		exists := err == nil
		isDir := exists && fi.IsDir()
		if !exists {
			_, isDir = w.tree.dirs[p]
		}
		if exists && isDir {
			continue // its files arrive as paths of their own
		}
		if never[p] {
			// Created and deleted within one batch (an editor's or sed's
			// temporary file): the container never had it.
			continue
		}
		if exists && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		for _, svc := range w.rs.services {
			for _, r := range w.rs.choose(svc, p) {
				if !r.accepts(p, isDir) {
					continue
				}
				if exists && fi.Mode()&fs.ModeSymlink != 0 && !linkInside(r.root, p) {
					if !skipped[p] {
						skipped[p] = true
						w.emit(Event{Stage: StageSkipped, Service: svc, Path: p,
							Message: fmt.Sprintf("%s: %s is a symlink leading outside %s; not synced", svc, p, r.display)})
					}
					continue
				}
				c := byRule[r.id]
				if c == nil {
					c = &contrib{rule: r}
					byRule[r.id] = c
				}
				c.hosts = append(c.hosts, p)
				if r.syncs() && !w.rs.bindMounted(svc, p) {
					c.changes = append(c.changes, Change{HostPath: p, ContainerPath: r.containerPath(p), Target: r.target, Deleted: !exists})
				}
			}
		}
		if exists {
			w.tree.snap[p] = stateOf(fi)
		} else {
			w.tree.forget(p)
		}
	}
	out := make([]*contrib, 0, len(byRule))
	for _, c := range byRule {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rule.id < out[j].rule.id })
	return out
}

// bornAndGone finds the paths created since the last flush that are gone
// again before this one: the container never had them. A path seen to
// exist by a flush is in the snapshot and is not in born any more.
func (w *watcher) bornAndGone(paths []string) map[string]bool {
	out := map[string]bool{}
	for _, p := range paths {
		if !w.tree.born[p] {
			continue
		}
		delete(w.tree.born, p)
		if _, err := os.Lstat(p); err != nil {
			out[p] = true
		}
	}
	return out
}

// linkInside reports whether the symlink p resolves to somewhere under root.
// A dangling link is treated as outside: there is nothing safe to read.
func linkInside(root, p string) bool {
	dst, err := filepath.EvalSymlinks(p)
	return err == nil && within(root, dst)
}

func (w *watcher) flush(paths []string, first time.Time) {
	now := w.clock.Now()
	w.emit(Event{Stage: StageFlushed, Files: len(paths), Duration: now.Sub(first)})
	w.mu.Lock()
	contribs := w.classify(paths)
	works := map[string]*work{}
	for _, c := range contribs {
		r := c.rule
		if w.paused[r.id] || w.loopDetected(c, first) {
			continue
		}
		wk := works[r.service]
		if wk == nil {
			wk = newWork()
			works[r.service] = wk
		}
		wk.add(c)
	}
	w.mu.Unlock()
	for _, s := range w.rs.services {
		if wk := works[s]; wk != nil && !wk.empty() {
			w.push(s, wk)
		}
	}
}

// loopState follows one rule's recent triggers, to notice an action whose
// own output (a log, a generated file, a restart touching a mounted file)
// keeps re-triggering it.
type loopState struct {
	key     string
	streak  int
	start   time.Time
	done    time.Time
	running bool
}

// loopDetected records this trigger and pauses the rule when it is the
// (LoopLimit+1)th identical change set in a row seen during or right after
// the rule's previous action. Caller holds w.mu.
func (w *watcher) loopDetected(c *contrib, first time.Time) bool {
	r := c.rule
	if r.action == types.WatchActionSync {
		// A plain sync writes only into the container (a bind-mounted path
		// is not synced), so it cannot re-trigger itself; quick repeated
		// saves of one file must not pause it.
		return false
	}
	ls := w.loops[r.id]
	if ls == nil {
		ls = &loopState{}
		w.loops[r.id] = ls
	}
	hosts := append([]string(nil), c.hosts...)
	sort.Strings(hosts)
	key := strings.Join(hosts, "\x00")
	retrigger := !ls.start.IsZero() && !first.Before(ls.start) &&
		(ls.running || first.Sub(ls.done) <= w.opts.LoopGap)
	if retrigger && key == ls.key {
		ls.streak++
	} else {
		ls.key, ls.streak = key, 1
	}
	if ls.streak <= w.opts.LoopLimit {
		return false
	}
	w.paused[r.id] = true
	sample := hosts
	if len(sample) > 3 {
		sample = sample[:3]
	}
	w.emit(Event{Stage: StagePaused, Service: r.service, Files: len(hosts), Message: fmt.Sprintf(
		"%s: %s rule for %s re-triggered itself %d times in a row with the same changes (%s); "+
			"paused until watch restarts; add the paths its action writes to the rule's ignore",
		r.service, r.action, r.display, ls.streak, strings.Join(sample, ", "))})
	return true
}

// work is what one service has to do; pending work merges, which is how
// edits made during a rebuild collapse into one follow-up rebuild.
type work struct {
	rebuild bool
	restart bool
	changes map[string]Change   // by container path; the latest state wins
	execs   map[int]ExecCommand // by rule id
	rules   map[int]struct{}    // rules that contributed
}

func newWork() *work {
	return &work{changes: map[string]Change{}, execs: map[int]ExecCommand{}, rules: map[int]struct{}{}}
}

func (wk *work) add(c *contrib) {
	r := c.rule
	wk.rules[r.id] = struct{}{}
	for _, ch := range c.changes {
		wk.changes[ch.ContainerPath] = ch
	}
	switch r.action {
	case types.WatchActionRebuild:
		wk.rebuild = true
	case types.WatchActionRestart, types.WatchActionSyncRestart:
		wk.restart = true
	case types.WatchActionSyncExec:
		wk.execs[r.id] = r.exec
	}
}

func (wk *work) merge(o *work) {
	wk.rebuild = wk.rebuild || o.rebuild
	wk.restart = wk.restart || o.restart
	for k, v := range o.changes {
		wk.changes[k] = v
	}
	for k, v := range o.execs {
		wk.execs[k] = v
	}
	for k := range o.rules {
		wk.rules[k] = struct{}{}
	}
}

func (wk *work) empty() bool {
	return !wk.rebuild && !wk.restart && len(wk.changes) == 0 && len(wk.execs) == 0
}

// queue serializes one service's actions.
type queue struct {
	mu      sync.Mutex
	pending *work
	running bool
}

func (w *watcher) push(service string, wk *work) {
	q := w.queues[service]
	q.mu.Lock()
	if q.pending == nil {
		q.pending = wk
	} else {
		q.pending.merge(wk)
	}
	if q.running {
		q.mu.Unlock()
		return
	}
	q.running = true
	q.mu.Unlock()
	w.wg.Add(1)
	go w.drain(service, q)
}

func (w *watcher) drain(service string, q *queue) {
	defer w.wg.Done()
	for {
		q.mu.Lock()
		wk := q.pending
		q.pending = nil
		if wk == nil || w.ctx.Err() != nil {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		w.run(service, wk)
	}
}

// run performs one service's work in the documented order: rebuild, sync,
// restart, exec. A rebuild recreates the containers, which makes a restart
// in the same round redundant.
func (w *watcher) run(service string, wk *work) {
	w.markRules(wk, true)
	defer w.markRules(wk, false)
	rebuilt := false
	if wk.rebuild {
		rebuilt = w.act(service, ActionRebuild, 0, func() error { return w.ctrl.Rebuild(w.ctx, service) }) == nil
	}
	if len(wk.changes) > 0 {
		changes := make([]Change, 0, len(wk.changes))
		for _, ch := range wk.changes {
			changes = append(changes, ch)
		}
		// Deletions first, so a directory replaced by a file (or the other
		// way round) ends up as the host has it.
		sort.Slice(changes, func(i, j int) bool {
			if changes[i].Deleted != changes[j].Deleted {
				return changes[i].Deleted
			}
			return changes[i].ContainerPath < changes[j].ContainerPath
		})
		w.act(service, ActionSync, len(changes), func() error { return w.ctrl.Sync(w.ctx, service, changes) })
	}
	if wk.restart && !rebuilt {
		w.act(service, ActionRestart, 0, func() error { return w.ctrl.Restart(w.ctx, service) })
	}
	ids := make([]int, 0, len(wk.execs))
	for id := range wk.execs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		cmd := wk.execs[id]
		w.act(service, ActionExec, 0, func() error { return w.ctrl.Exec(w.ctx, service, cmd) })
	}
}

func (w *watcher) act(service string, a Action, files int, f func() error) error {
	if w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	start := w.clock.Now()
	w.emit(Event{Stage: StageStarted, Time: start, Service: service, Action: a, Files: files})
	err := f()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", a, service, err)
	}
	end := w.clock.Now()
	w.emit(Event{Stage: StageDone, Time: end, Service: service, Action: a, Files: files, Duration: end.Sub(start), Err: err})
	return err
}

func (w *watcher) markRules(wk *work, running bool) {
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range wk.rules {
		ls := w.loops[id]
		if ls == nil {
			ls = &loopState{}
			w.loops[id] = ls
		}
		ls.running = running
		if running {
			ls.start = now
		} else {
			ls.done = now
		}
	}
}
