//go:build !hoistinit

package stdio

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Handover marks a file made for one container alone, which the runtime
// gives that container as one of its standard streams as it is: the
// FIFOs and the stdin pipe a supervisor makes in the container's state
// dir, a monitor's log files. Whatever the container does with it (read
// it back, reopen it through /proc/self/fd/N) touches nothing but its
// own.
//
// Every other stream, whatever its type, crosses through a pipe that the
// runtime makes and copies, so that no file of hoist's reaches a
// container: not hoist's terminal (TIOCSTI on it types into the user's
// shell, and a process left in the container would read what the user
// types after hoist returned), not a regular file given as stdin (the
// container could reopen /proc/self/fd/0 for writing and change it).
type Handover struct{ *os.File }

// How long the output of a process is still copied after it exited, once
// what was in the pipe then is delivered: a process it left behind (an
// exec's background job) that keeps the pipe open must not hold the
// caller. Data that keeps arriving is copied for up to OutputLinger,
// as Docker gives an exec's streams 2 s after its end.
const (
	OutputIdle   = 200 * time.Millisecond
	OutputLinger = 2 * time.Second
)

// Streams is a container process's fds 0 to 2 as the runtime makes them
// (Handover files as they are, pipes for everything else) and the copies
// that serve the pipes. Its life: New before the process is started,
// CloseChildEnds once it is, Start once the container really runs (the
// process may be dropped before: a respawn must find stdin unread),
// Finish once it exited; Abort instead when it never runs. Every method
// may be called on a nil Streams (a process on a terminal), and does
// nothing then.
type Streams struct {
	child [3]*os.File // the process's fds 0 to 2
	ours  []*os.File  // pipe ends made for the process, closed once it has them
	in    *inCopy
	outs  []*outCopy

	started bool
}

// New makes the process's fds 0 to 2 for stdin, stdout and stderr.
// nil stdin reads as empty; nil stdout or stderr is discarded. When
// stdout and stderr are the same (the same writer, or files of the same
// inode, as hoist's terminal on both), the process gets one pipe on fds 1
// and 2, so their order is kept.
func New(stdin io.Reader, stdout, stderr io.Writer) (*Streams, error) {
	s := &Streams{}
	if err := s.make(stdin, stdout, stderr); err != nil {
		s.Abort()
		return nil, err
	}
	return s, nil
}

// make is New's work; everything it opens is in s as soon as it is open,
// for Abort.
func (s *Streams) make(stdin io.Reader, stdout, stderr io.Writer) error {
	// A Handover of no file is no stream.
	if h, ok := stdin.(Handover); ok && h.File == nil {
		stdin = nil
	}
	if h, ok := stdout.(Handover); ok && h.File == nil {
		stdout = nil
	}
	if h, ok := stderr.(Handover); ok && h.File == nil {
		stderr = nil
	}
	if h, ok := stdin.(Handover); ok {
		s.child[0] = h.File
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		s.child[0], s.ours = r, append(s.ours, r)
		if stdin == nil {
			w.Close() // EOF at once
		} else {
			s.in = &inCopy{src: stdin, w: w}
		}
	}
	for i, out := range []io.Writer{stdout, stderr} {
		if i == 1 && sameStream(stdout, stderr) {
			s.child[2] = s.child[1]
			break
		}
		if h, ok := out.(Handover); ok {
			s.child[1+i] = h.File
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		s.child[1+i], s.ours = w, append(s.ours, w)
		c := &outCopy{r: r, dst: io.Discard, done: make(chan struct{})}
		s.outs = append(s.outs, c)
		if out != nil {
			if c.dst, c.dup, err = writerFor(out); err != nil {
				return err
			}
		}
	}
	return nil
}

// Child is the process's fds 0 to 2, to start it with.
func (s *Streams) Child() (stdin, stdout, stderr *os.File) {
	return s.child[0], s.child[1], s.child[2]
}

// CloseChildEnds closes the runtime's copies of the pipe ends the process
// was started with: only the container holds them now, so the output
// copies see EOF when its last process is gone.
func (s *Streams) CloseChildEnds() {
	if s == nil {
		return
	}
	for _, f := range s.ours {
		f.Close()
	}
	s.ours = nil
}

// Start starts the copies.
func (s *Streams) Start() {
	if s == nil || s.started {
		return
	}
	s.started = true
	for _, c := range s.outs {
		go c.run()
	}
	if s.in != nil {
		go s.in.run()
	}
}

// Finish is called once the process exited: stdin is no longer copied,
// and the output copies end as outCopy.run says; Finish waits for them.
// Without Start it is Abort.
func (s *Streams) Finish() {
	if s == nil {
		return
	}
	if !s.started {
		s.Abort()
		return
	}
	if s.in != nil {
		s.in.stop()
	}
	for _, c := range s.outs {
		c.exit()
	}
	for _, c := range s.outs {
		<-c.done
	}
}

// Abort closes every end the runtime holds, for a process that never ran
// (or is dropped): nothing was or will be copied.
func (s *Streams) Abort() {
	if s == nil || s.started {
		return
	}
	s.started = true // nothing starts after
	s.CloseChildEnds()
	if s.in != nil {
		s.in.w.Close()
	}
	for _, c := range s.outs {
		c.r.Close()
		if c.dup != nil {
			c.dup.Close()
		}
		close(c.done)
	}
}

// sameStream reports whether stdout and stderr are one stream: equal
// values (compared only when comparable), or two files of one inode.
func sameStream(a, b io.Writer) (same bool) {
	fa, okA := a.(*os.File)
	fb, okB := b.(*os.File)
	if okA && okB && fa != nil && fb != nil {
		sa, errA := fa.Stat()
		sb, errB := fb.Stat()
		return fa == fb || errA == nil && errB == nil && os.SameFile(sa, sb)
	}
	defer func() {
		if recover() != nil {
			same = false // not comparable
		}
	}()
	return a == b
}

// writerFor is what an output copy writes to for w. A file is written
// through a duplicate of its descriptor: writing to a closed pipe on
// hoist's own fd 1 or 2 would kill hoist with SIGPIPE (Go's rule for
// those two), before it removed the container; on the duplicate it is an
// error, and the container gets the SIGPIPE, as when the file was its
// own.
func writerFor(w io.Writer) (io.Writer, *os.File, error) {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return w, nil, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	var dup int
	var derr error
	// Not f.Fd(): it would make f blocking.
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return nil, nil, err
	}
	if derr != nil {
		return nil, nil, derr
	}
	d := os.NewFile(uintptr(dup), f.Name())
	return d, d, nil
}

// inCopy copies a stdin that is not handed over into the process's pipe.
type inCopy struct {
	src io.Reader
	w   *os.File
}

func (c *inCopy) run() {
	// Plain reads and writes (no splice): the pipe end is closed by stop,
	// which must wake a blocked write.
	_, _ = io.Copy(struct{ io.Writer }{c.w}, struct{ io.Reader }{c.src})
	c.w.Close() // EOF for the process
}

// stop ends the copy into a process that exited. A read of src that
// blocks (a terminal nobody types on) is left to end on its own; what it
// reads then goes nowhere.
func (c *inCopy) stop() { c.w.Close() }

// outCopy copies a process's output pipe to its writer.
type outCopy struct {
	r      *os.File
	dst    io.Writer
	dup    *os.File // dst's own descriptor (writerFor), closed at the end
	exited atomic.Bool
	done   chan struct{}
	once   sync.Once
}

// exit tells run that the process exited.
func (c *outCopy) exit() {
	c.once.Do(func() {
		c.exited.Store(true)
		_ = c.r.SetReadDeadline(time.Now()) // wake a blocked read
	})
}

// run copies until EOF (the container's last process is gone) or a write
// error (the pipe is then closed: the container's next write fails as it
// would on a closed file of its own). After the process exited it also
// stops when the pipe stays empty for OutputIdle (a process left behind
// holds it), or, once what was in the pipe at the exit is delivered, when
// OutputLinger has passed since (one left behind keeps writing). Only the
// pipe's silence counts, never the time the writer takes: a slow reader
// of hoist's output still gets all of the process's output.
func (c *outCopy) run() {
	defer close(c.done)
	defer c.r.Close()
	if c.dup != nil {
		defer c.dup.Close()
	}
	buf := make([]byte, 32<<10)
	var (
		draining       bool
		owed           int // bytes in the pipe when draining began
		exitAt, lastIn time.Time
	)
	for {
		if !draining && c.exited.Load() {
			draining, exitAt, lastIn = true, time.Now(), time.Now()
			owed = pending(c.r)
		}
		if draining {
			end := lastIn.Add(OutputIdle)
			if linger := exitAt.Add(OutputLinger); owed == 0 && linger.Before(end) {
				end = linger
			}
			if !time.Now().Before(end) {
				return
			}
			_ = c.r.SetReadDeadline(end)
		}
		n, err := c.r.Read(buf)
		if n > 0 {
			owed -= min(n, owed)
			if _, werr := c.dst.Write(buf[:n]); werr != nil {
				return
			}
			// Idle counts from here: the time the writer took is not.
			lastIn = time.Now()
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // EOF, or closed
		}
		// A deadline: exit woke the read, or the wait is over, which the
		// loop's head decides.
	}
}

// pending is how many bytes are in pipe r (0 when that is unknown).
func pending(r *os.File) int {
	rc, err := r.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	// TIOCINQ is FIONREAD.
	_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) })
	return n
}
