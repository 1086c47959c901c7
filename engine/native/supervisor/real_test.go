package supervisor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/engine/native/logfile"
	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
)

func errorsIsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func TestRestartOnFailure(t *testing.T) {
	f := newFixture(t)
	ev := f.subscribe()
	id := testID(t, "")
	cfg := f.config(id, "sh", "-c", "exit 1")
	cfg.Restart = RestartPolicy{Mode: RestartOnFailure, MaxRetries: 2}
	f.run(cfg)
	for i := 1; i <= 2; i++ {
		waitFor(t, ev, id, EventExited)
		if e := waitFor(t, ev, id, EventRestarting); e.RestartCount != i || e.Delay != time.Duration(i)*100*time.Millisecond {
			t.Fatalf("restarting %+v", e)
		}
		waitFor(t, ev, id, EventStarted)
	}
	waitFor(t, ev, id, EventExited, EventRestarting)
	// The loop ends right after the last exit; Stop waits for that.
	if err := f.c.Stop(ctx30(t), id, 0); err != nil {
		t.Fatal(err)
	}
	st, err := f.c.State(ctx30(t), id)
	if err != nil || st.RestartCount != 2 || st.ExitCode != 1 {
		t.Fatalf("state %+v %v", st, err)
	}
}

func TestUnlessStoppedStop(t *testing.T) {
	f := newFixture(t)
	ev := f.subscribe()
	id := testID(t, "")
	cfg := f.config(id, "sleep", "1000")
	cfg.Restart = RestartPolicy{Mode: RestartUnlessStopped}
	cfg.StopGrace = 100 * time.Millisecond // sleep as pid 1 ignores SIGTERM
	f.run(cfg)
	waitFor(t, ev, id, EventStarted)
	if err := f.c.Stop(ctx30(t), id, -1); err != nil {
		t.Fatal(err)
	}
	if e := waitFor(t, ev, id, EventExited); e.ExitCode != 137 {
		t.Fatalf("exited %+v", e)
	}
	st, err := f.c.State(ctx30(t), id)
	if err != nil || st.Status != StatusStopped || st.RestartCount != 0 {
		t.Fatalf("state %+v %v", st, err)
	}
	// Stop waited for the loop to end; any restart would have shown.
	select {
	case e := <-ev:
		if e.ID == id {
			t.Fatalf("event after stop: %+v", e)
		}
	default:
	}
	// It can run again (as the backend's start would do).
	f.run(cfg)
	waitFor(t, ev, id, EventStarted)
	if err := f.c.Remove(ctx30(t), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ev, id, EventRemoved)
}

func TestHealthcheck(t *testing.T) {
	f := newFixture(t)
	ev := f.subscribe()
	good, bad := testID(t, "-good"), testID(t, "-bad")
	cfg := f.config(good, "sleep", "1000")
	cfg.StopGrace = 100 * time.Millisecond
	cfg.Healthcheck = &Healthcheck{Test: []string{"CMD-SHELL", "echo fine; test -d /proc/1"}, Interval: 50 * time.Millisecond, Timeout: 5 * time.Second}
	f.run(cfg)
	cfg2 := f.config(bad, "sleep", "1000")
	cfg2.StopGrace = 100 * time.Millisecond
	cfg2.Healthcheck = &Healthcheck{Test: []string{"CMD", "sh", "-c", "echo sick; exit 1"}, Interval: 50 * time.Millisecond, Retries: 2}
	f.run(cfg2)
	if e := waitFor(t, ev, good, EventHealth); e.Health != HealthHealthy {
		t.Fatalf("health %+v", e)
	}
	if e := waitFor(t, ev, bad, EventHealth); e.Health != HealthUnhealthy {
		t.Fatalf("health %+v", e)
	}
	var h store.Health
	if err := store.ReadJSON(filepath.Join(f.states, bad, HealthFile), &h); err != nil {
		t.Fatal(err)
	}
	st, _ := runtime.ReadState(filepath.Join(f.states, bad))
	if h.Status != HealthUnhealthy || h.Output != "sick" || h.ExitCode != 1 || !h.StartedAt.Equal(st.StartedAt) || len(h.Log) < 2 {
		t.Fatalf("health.json %+v (run %v)", h, st.StartedAt)
	}
	cs, _ := f.c.State(ctx30(t), good)
	if cs.Health != HealthHealthy {
		t.Fatalf("state %+v", cs)
	}
}

// TestChattyContainer: a container writing as fast as it can never
// blocks the supervisor, and its log rotates within the cap.
func TestChattyContainer(t *testing.T) {
	f := newFixture(t)
	ev := f.subscribe()
	id := testID(t, "")
	cfg := f.config(id, "sh", "-c", "yes 'a chatty line of output that goes on' | head -c 50000000; echo done")
	cfg.LogMaxSize = 1 << 20
	cfg.LogMaxFiles = 3
	f.run(cfg)
	waitFor(t, ev, id, EventStarted)
	// The supervisor answers promptly all along.
	var worst time.Duration
	exited := false
	for !exited {
		start := time.Now()
		st, err := f.c.State(ctx30(t), id)
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(start))
		exited = st.Status == StatusExited
	}
	if worst > time.Second {
		t.Errorf("State took up to %v while the container wrote", worst)
	}
	st, _ := f.c.State(ctx30(t), id)
	t.Logf("worst State latency %v; dropped %d bytes", worst, st.DroppedLogBytes)
	names, _ := filepath.Glob(filepath.Join(f.states, id, logfile.File+"*"))
	if len(names) != 3 {
		t.Fatalf("log files %v", names)
	}
	var total int64
	for _, n := range names {
		fi, _ := os.Stat(n)
		if fi.Size() > cfg.LogMaxSize {
			t.Errorf("%s: %d bytes", n, fi.Size())
		}
		total += fi.Size()
	}
	// Blocking mode loses nothing, and the exit is recorded only once
	// the last line is in the file.
	b, _ := os.ReadFile(filepath.Join(f.states, id, logfile.File))
	if st.DroppedLogBytes != 0 || !strings.HasSuffix(string(b), "linedone\n") {
		t.Errorf("dropped %d; live log ends ...%q", st.DroppedLogBytes, b[max(0, len(b)-200):])
	}
}

func TestConcurrentEnsure(t *testing.T) {
	f := newFixture(t)
	first := f.c.Pid
	// Kill it so that the racers have to start one.
	if err := Teardown(f.dir); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	pids := make([]int, 4)
	for i := range pids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Ensure(ctx30(t), "test", f.dir)
			if err != nil {
				t.Error(err)
				return
			}
			pids[i] = c.Pid
		}()
	}
	wg.Wait()
	for _, p := range pids[1:] {
		if p != pids[0] {
			t.Fatalf("supervisors %v", pids)
		}
	}
	if pids[0] == first {
		t.Fatalf("the killed supervisor answered")
	}
}

// TestCrashAdopt: a supervisor killed -9 leaves its container running; a
// new Ensure adopts it, restarts it per policy when it dies, and Teardown
// leaves nothing.
func TestCrashAdopt(t *testing.T) {
	f := newFixture(t)
	id := testID(t, "")
	cfg := f.config(id, "sh", "-c", "echo before; exec sleep 1000")
	cfg.Spec.Init = true
	cfg.Restart = RestartPolicy{Mode: RestartAlways}
	f.run(cfg)
	st, err := runtime.ReadState(cfg.StateDir)
	if err != nil || st.Status != runtime.StatusRunning {
		t.Fatalf("%+v %v", st, err)
	}
	old := f.c.Pid
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var info Info
	_ = store.ReadJSON(filepath.Join(f.dir, InfoFile), &info)
	for alive(info.Pid, info.StartTime) {
		time.Sleep(5 * time.Millisecond) // until the kernel is done with it
	}
	if !alive(st.Pid, st.StartTime) {
		t.Fatal("the container died with its supervisor")
	}
	f.c = f.ensure()
	if f.c.Pid == old {
		t.Fatal("same supervisor")
	}
	cs, err := f.c.State(ctx30(t), id)
	if err != nil || cs.Status != StatusRunning || !cs.Adopted || cs.Pid != st.Pid {
		t.Fatalf("adopted state %+v %v", cs, err)
	}
	// The new supervisor watches it: a kill is seen (code unknown) and
	// the policy restarts it.
	ev := f.subscribe()
	if err := f.c.Kill(ctx30(t), id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := waitFor(t, ev, id, EventExited); e.ExitCode != -1 {
		t.Fatalf("exited %+v", e)
	}
	e := waitFor(t, ev, id, EventStarted)
	// Kill the supervisor again, then tear down from the files alone.
	if err := syscall.Kill(f.c.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := Teardown(f.dir); err != nil {
		t.Fatal(err)
	}
	if alive(e.Pid, 0) || processExists(e.Pid) {
		t.Fatalf("container %d survived teardown", e.Pid)
	}
	b, _ := os.ReadFile(filepath.Join(cfg.StateDir, logfile.File))
	if !strings.Contains(string(b), "stdout F before") {
		t.Fatalf("log %q", b)
	}
}

func processExists(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func TestPorts(t *testing.T) {
	f := newFixture(t)
	target := pongTarget(t)
	id := testID(t, "")
	cfg := f.config(id, "sleep", "1000")
	cfg.StopGrace = 50 * time.Millisecond
	cfg.Ports = []portproxy.Binding{{HostIP: netip.MustParseAddr("127.0.0.1"), Proto: "tcp", TargetIP: target.Addr(), TargetPort: target.Port()}}
	f.run(cfg)
	st, err := f.c.State(ctx30(t), id)
	if err != nil || len(st.Ports) != 1 {
		t.Fatalf("%+v %v", st, err)
	}
	c, err := net.Dial("tcp", st.Ports[0])
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(buf); err != nil || string(buf) != "pong\n" {
		t.Fatalf("%q %v", buf, err)
	}
	c.Close()
	if err := f.c.Stop(ctx30(t), id, -1); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", st.Ports[0]); err == nil {
		c.Close()
		t.Fatal("port still open after stop")
	}
}

// TestRSS50 measures the supervisor with 50 sleeping containers.
func TestRSS50(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 50 containers")
	}
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := f.config(testID(t, fmt.Sprint("-", i)), "sleep", "1000")
			cfg.StopGrace = 50 * time.Millisecond
			if err := f.c.Run(ctx30(t), cfg); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	list, err := f.c.List(ctx30(t))
	if err != nil || len(list) != 50 {
		t.Fatalf("%d %v", len(list), err)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.c.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") || strings.HasPrefix(l, "RssFile") || strings.HasPrefix(l, "Threads") {
			t.Log(l)
		}
	}
	if err := f.c.Shutdown(ctx30(t)); err != nil {
		t.Fatal(err)
	}
}

// tty and stdin_open keep a container that reads its stdin alive, as with
// Docker: with a terminal the supervisor holds its master (and logs what
// the terminal shows), with stdin_open a pipe that never ends. Stop ends
// both.
func TestTTYAndStdinOpen(t *testing.T) {
	f := newFixture(t)
	ev := f.subscribe()
	tty := f.config(testID(t, "tty"), "sh", "-c", "tty; [ -t 0 ] && echo stdin-tty; read x; echo read-ended")
	tty.Spec.TTY, tty.Spec.Size = true, runtime.WinSize{Rows: 24, Cols: 80}
	tty.StopGrace = 100 * time.Millisecond
	open := f.config(testID(t, "open"), "sh", "-c", "echo open; cat; echo cat-ended")
	open.StdinOpen = true
	open.StopGrace = 100 * time.Millisecond
	for _, cfg := range []ContainerConfig{tty, open} {
		f.run(cfg)
		waitFor(t, ev, cfg.ID, EventStarted)
	}
	time.Sleep(500 * time.Millisecond)
	for _, cfg := range []ContainerConfig{tty, open} {
		st, err := f.c.State(ctx30(t), cfg.ID)
		if err != nil || st.Status != StatusRunning {
			t.Fatalf("%s: %+v, %v: want running", cfg.ID, st, err)
		}
	}
	for _, cfg := range []ContainerConfig{tty, open} {
		if err := f.c.Stop(ctx30(t), cfg.ID, -1); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(f.states, tty.ID, logfile.File))
	if !strings.Contains(string(b), " stdout F /dev/pts/0\r") || !strings.Contains(string(b), "stdin-tty") || strings.Contains(string(b), "read-ended") {
		t.Errorf("tty log %q", b)
	}
	b, _ = os.ReadFile(filepath.Join(f.states, open.ID, logfile.File))
	if !strings.Contains(string(b), " stdout F open\n") || strings.Contains(string(b), "cat-ended") {
		t.Errorf("stdin_open log %q", b)
	}
}
