package supervisor

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/logfile"
	"github.com/hoist-dev/hoist/internal/clock"
)

func TestBackoff(t *testing.T) {
	var b backoff
	var got []time.Duration
	for range 12 {
		got = append(got, b.next(time.Second))
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	if d := b.next(10 * time.Second); d != 100*time.Millisecond {
		t.Fatalf("after 10 s up: %v, want 100ms", d)
	}
}

func TestShouldRestart(t *testing.T) {
	for _, tc := range []struct {
		policy        string
		code, retries int
		stopped, want bool
	}{
		{"no", 1, 0, false, false},
		{"always", 0, 5, false, true},
		{"always", 1, 0, true, false},
		{"unless-stopped", 0, 0, false, true},
		{"unless-stopped", 0, 0, true, false},
		{"on-failure", 0, 0, false, false},
		{"on-failure", 1, 100, false, true},
		{"on-failure:2", 1, 1, false, true},
		{"on-failure:2", 1, 2, false, false},
	} {
		p, err := ParseRestartPolicy(tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.shouldRestart(tc.code, tc.retries, tc.stopped); got != tc.want {
			t.Errorf("%s code %d retries %d stopped %v: %v", tc.policy, tc.code, tc.retries, tc.stopped, got)
		}
	}
	for _, bad := range []string{"sometimes", "always:3", "on-failure:x"} {
		if _, err := ParseRestartPolicy(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// fakeClock fires timers only when advanced.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	pending chan struct{} // a token per AfterFunc call
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (*fakeTimer) Stop() bool { return false }

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1e9, 0), pending: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c.now.Add(d), f}
	c.timers = append(c.timers, t)
	c.pending <- struct{}{}
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// fakeTask exits with the code sent on exit.
type fakeTask struct {
	pid  int
	exit chan int
}

func (f *fakeTask) Pid() int  { return f.pid }
func (f *fakeTask) Wait() int { return <-f.exit }
func (f *fakeTask) Signal(sig syscall.Signal) error {
	select {
	case f.exit <- 128 + int(sig):
	default:
	}
	return nil
}

func nextEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	panic("unreachable")
}

func expectNoEvent(t *testing.T, ch <-chan Event) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("unexpected event %+v", e)
	default:
	}
}

// TestRestartTiming drives the supervision loop with a fake clock and
// fake runs: restarts wait 100, 200, 400 ms, a 10 s run resets the
// backoff, on-failure:N stops after N restarts.
func TestRestartTiming(t *testing.T) {
	clock := newFakeClock()
	s := newServer("", clock)
	tasks := make(chan *fakeTask, 10)
	pid := 100
	s.start = func(ctx context.Context, cfg *ContainerConfig, log *logfile.Writer) (task, error) {
		pid++
		ft := &fakeTask{pid: pid, exit: make(chan int, 1)}
		tasks <- ft
		return ft, nil
	}
	events, unsub := s.subscribe()
	defer unsub()
	cfg := ContainerConfig{ID: "c", StateDir: t.TempDir(), Restart: RestartPolicy{Mode: RestartOnFailure, MaxRetries: 4}}
	if err := s.run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	expect := func(typ EventType) Event {
		t.Helper()
		e := nextEvent(t, events)
		if e.Type != typ {
			t.Fatalf("event %+v, want %s", e, typ)
		}
		return e
	}
	expect(EventStarted)
	for i, want := range []time.Duration{100, 200, 400} {
		(<-tasks).exit <- 1
		expect(EventExited)
		if e := expect(EventRestarting); e.Delay != want*time.Millisecond || e.RestartCount != i+1 {
			t.Fatalf("restart %d: %+v, want delay %v ms", i+1, e, want)
		}
		<-clock.pending
		clock.Advance(want*time.Millisecond - time.Nanosecond)
		expectNoEvent(t, events)
		clock.Advance(time.Nanosecond)
		expect(EventStarted)
	}
	// This run lasts 10 s: the backoff starts over.
	clock.Advance(10 * time.Second)
	(<-tasks).exit <- 1
	expect(EventExited)
	if e := expect(EventRestarting); e.Delay != 100*time.Millisecond {
		t.Fatalf("after a 10 s run: %+v, want 100ms", e)
	}
	<-clock.pending
	clock.Advance(100 * time.Millisecond)
	expect(EventStarted)
	// The fifth failure is past on-failure:4.
	(<-tasks).exit <- 1
	expect(EventExited)
	st, err := s.state("c")
	if err != nil {
		t.Fatal(err)
	}
	for st.Status != StatusExited {
		time.Sleep(time.Millisecond) // the loop records the end right after the event
		st, _ = s.state("c")
	}
	if st.RestartCount != 4 || st.ExitCode != 1 {
		t.Fatalf("state %+v", st)
	}
	expectNoEvent(t, events)
}

// TestStopDuringBackoff: Stop in the backoff wait ends the loop at once
// and nothing restarts (unless-stopped).
func TestStopDuringBackoff(t *testing.T) {
	clock := newFakeClock()
	s := newServer("", clock)
	tasks := make(chan *fakeTask, 10)
	s.start = func(ctx context.Context, cfg *ContainerConfig, log *logfile.Writer) (task, error) {
		ft := &fakeTask{pid: 7, exit: make(chan int, 1)}
		tasks <- ft
		return ft, nil
	}
	cfg := ContainerConfig{ID: "c", StateDir: t.TempDir(), Restart: RestartPolicy{Mode: RestartUnlessStopped}}
	if err := s.run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	(<-tasks).exit <- 0
	<-clock.pending
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.stop(ctx, "c", time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if st, _ := s.state("c"); st.Status != StatusStopped {
		t.Fatalf("state %+v", st)
	}
	if len(tasks) != 0 {
		t.Fatal("restarted after Stop")
	}
}
