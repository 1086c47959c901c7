package clock

import (
	"testing"
	"time"
)

// fake fires a timer when the test moves its time, so After is tested
// without a sleep.
type fake struct {
	now time.Time
	due []func()
}

func (f *fake) Now() time.Time { return f.now }

func (f *fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.due = append(f.due, fn)
	return nil
}

func TestAfterSendsTheClocksTime(t *testing.T) {
	f := &fake{now: time.Unix(1e9, 0)}
	ch := After(f, time.Minute)
	select {
	case <-ch:
		t.Fatal("fired before its time")
	default:
	}
	f.now = f.now.Add(time.Minute)
	f.due[0]()
	if got := <-ch; !got.Equal(f.now) {
		t.Fatalf("got %v, want %v", got, f.now)
	}
}

func TestRealAfter(t *testing.T) {
	start := time.Now()
	<-After(Real(), time.Millisecond)
	if time.Since(start) < time.Millisecond {
		t.Fatal("fired early")
	}
}
