package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/logfile"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/procfs"
)

// task is one run of a container: started here, or adopted from a dead
// supervisor.
type task interface {
	Pid() int
	// Wait returns the exit code (-1 when unknown) once the container
	// exited and its cgroup and state were cleaned up and recorded.
	Wait() int
	Signal(sig syscall.Signal) error
}

// startTask starts cfg's container with its output on the FIFOs.
func startTask(ctx context.Context, cfg *ContainerConfig, log *logfile.Writer) (task, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	t := &runTask{m: &runtime.Monitor{StateDir: cfg.StateDir}}
	var writers []*os.File
	defer func() {
		for _, w := range writers {
			w.Close()
		}
	}()
	_, err := t.openLogs(cfg.StateDir, log, func(w *os.File) { writers = append(writers, w) })
	if err != nil {
		return nil, err
	}
	spec := cfg.Spec
	spec.ID = cfg.ID
	// The FIFOs are the container's alone (made in its state dir), and
	// outlive this supervisor: a new one reads them on (adopt).
	spec.Stdin, spec.Stdout, spec.Stderr = nil, runtime.Handover{File: writers[0]}, runtime.Handover{File: writers[1]}
	spec.Prestart = nil
	if cfg.StdinOpen && !spec.TTY {
		// A pipe whose write end only we hold: reads block, never end.
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		t.stdin = w
		spec.Stdin = runtime.Handover{File: r}
	}
	if _, err := t.m.Start(ctx, spec); err != nil {
		// The readers end at EOF once the deferred close drops the
		// last write ends.
		if t.stdin != nil {
			t.stdin.Close()
		}
		return nil, err
	}
	if c := t.m.Process().Console; c != nil {
		// A TTY container's output is its terminal's, one stream (as
		// Docker logs it); holding the master keeps the terminal, and so
		// the container's stdin, open for its life.
		t.console = c
		t.logWG.Add(1)
		go func() {
			defer t.logWG.Done()
			log.Read("stdout", c)
		}()
	}
	// Only the container holds the write ends now: the readers see EOF
	// when its last process is gone.
	return t, nil
}

type runTask struct {
	m       *runtime.Monitor
	logWG   sync.WaitGroup
	console *os.File // the terminal's master (Spec.TTY)
	stdin   *os.File // the open stdin's write end (StdinOpen)
}

// openLogs opens both FIFOs: the read-write end for the container (given
// to keep), then the reader, which a goroutine copies into log.
func (t *runTask) openLogs(dir string, log *logfile.Writer, keep func(*os.File)) ([]*os.File, error) {
	var readers []*os.File
	for _, s := range fifos {
		path := filepath.Join(dir, s.name)
		if err := makeFifo(path); err != nil {
			return readers, err
		}
		w, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return readers, fmt.Errorf("open log fifo: %w", err)
		}
		keep(w)
		r, err := openFifoReader(path)
		if err != nil {
			return readers, err
		}
		readers = append(readers, r)
		drain(&t.logWG, log, s.stream, r)
	}
	return readers, nil
}

func (t *runTask) Pid() int { return t.m.Process().Pid() }

func (t *runTask) Signal(sig syscall.Signal) error { return t.m.Process().Signal(sig) }

func (t *runTask) Wait() int {
	code, _ := t.m.Wait()
	if t.console != nil {
		// Reads end at EIO once the container's last process is gone;
		// a deadline bounds a terminal held by something else.
		_ = t.console.SetReadDeadline(time.Now().Add(time.Second))
	}
	waitLogs(&t.logWG)
	if t.console != nil {
		t.console.Close()
	}
	if t.stdin != nil {
		t.stdin.Close()
	}
	return code
}

// waitLogs waits for the readers to drain: they end when the container's
// last process closed the FIFO, which its cgroup's removal guarantees.
func waitLogs(wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// adoptedTask is a container started by a supervisor that died: not our
// child, so its exit is seen through a pidfd and its code is lost.
type adoptedTask struct {
	id       string
	pid      int
	pidfd    *os.File
	stateDir string
	logWG    sync.WaitGroup
}

// adopt takes over a running container from its state dir, or returns
// nil when it is not running.
func adopt(cfg *ContainerConfig, log *logfile.Writer) (*adoptedTask, error) {
	st, err := runtime.ReadState(cfg.StateDir)
	if err != nil || st.Status != runtime.StatusRunning {
		return nil, err
	}
	fd, err := pidfdOf(st.Pid, st.StartTime)
	if err != nil {
		return nil, nil // gone meanwhile
	}
	t := &adoptedTask{id: cfg.ID, pid: st.Pid, pidfd: fd, stateDir: cfg.StateDir}
	for _, s := range fifos {
		r, err := openFifoReader(filepath.Join(cfg.StateDir, s.name))
		if err != nil {
			continue // output is lost, the container is still ours
		}
		drain(&t.logWG, log, s.stream, r)
	}
	return t, nil
}

// pidfdOf opens a pidfd for pid if it still is the process that started
// at start (clock ticks, /proc/<pid>/stat field 22). The pidfd is
// non-blocking, so Go's poller reports the exit.
func pidfdOf(pid int, start uint64) (*os.File, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	// Checked after opening: the pidfd pins the process, so a match now
	// cannot be a reused pid later.
	if t, err := procStartTime(pid); err != nil || t != start {
		unix.Close(fd)
		return nil, fmt.Errorf("process %d is gone", pid)
	}
	return os.NewFile(uintptr(fd), "pidfd"), nil
}

// waitPidfd blocks until the process of the pidfd exited.
func waitPidfd(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(fds, 0)
		return n > 0
	})
}

func (t *adoptedTask) Pid() int { return t.pid }

func (t *adoptedTask) Signal(sig syscall.Signal) error {
	if err := unix.PidfdSendSignal(int(t.pidfd.Fd()), sig, nil, 0); err != nil {
		return fmt.Errorf("signal container: %w", err)
	}
	return nil
}

func (t *adoptedTask) Wait() int {
	_ = waitPidfd(t.pidfd)
	t.pidfd.Close()
	// What is left in the container's cgroups goes with them.
	err := runtime.RemoveCgroups(t.id)
	waitLogs(&t.logWG)
	st, rerr := runtime.ReadState(t.stateDir)
	if rerr == nil && st.Status == runtime.StatusRunning {
		st.Status, st.ExitCode, st.FinishedAt = runtime.StatusExited, -1, time.Now().UTC()
		st.Error = "exit code unknown: the container was adopted after its supervisor died"
		if err != nil {
			st.Error += "; " + err.Error()
		}
		_ = store.WriteJSON(filepath.Join(t.stateDir, store.StateFile), st)
	}
	return -1
}

// procStartTime identifies a process together with its pid.
func procStartTime(pid int) (uint64, error) { return procfs.StartTime(pid) }

// alive reports whether pid still runs the process started at start; a
// zombie (dead, not reaped yet: an init that does not reap keeps it) is
// not alive.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	t, err := procStartTime(pid)
	if err != nil || t != start {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
