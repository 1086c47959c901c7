package supervisor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/clock"
)

// Log capture. A container's stdout and stderr are FIFOs in its state
// dir (stdout.fifo, stderr.fifo), which the container holds open for
// reading and writing: a write never fails for want of a reader, so a
// container survives the supervisor's death (its writes block once the
// 64 KiB pipe buffer is full, until a new supervisor adopts it and
// drains the FIFOs again). The supervisor reads them through Go's poller
// (no thread per stream) into a bounded queue; one writer per container
// drains the queue into LogFile. When the writer falls behind and the
// queue holds logQueueBytes, the reader waits for room, so the container's
// writes block as with Docker's default (blocking) log mode: no output is
// lost, and only the chatty container is slowed (each has its own queue
// and writer). In non-blocking mode (ContainerConfig.LogNonBlocking,
// Docker's mode=non-blocking) further output is dropped and counted
// instead (ContainerState.DroppedLogBytes) and a "hoist" line in the log
// says how much was lost. Either way an exit is recorded only once the
// output read before it is in the file, so "exited" in ps means the log
// is complete.
//
// # Log format
//
// LogFile has one entry per line, as in Kubernetes' CRI log format:
//
//	2025-01-02T15:04:05.000000123Z stdout F hello world
//
// a fixed-width UTC timestamp with nanoseconds (LogTimeFormat, so that
// the lines of all files sort as text and --since compares as text too),
// the stream (stdout, stderr, or hoist for the supervisor's own notes),
// a tag, F for a full line or P for a part of a line (a line longer than
// logMaxLine is cut into P parts ended by an F part; output that ends
// without a newline is one P entry), and the text without its newline.
// Lines are never escaped: the text runs to the end of the line.
//
// The file rotates when it would exceed the size cap: container.log
// becomes container.log.1, .1 becomes .2, and so on; LogMaxFiles files
// are kept, the live one included. A reader reads the highest number
// first and the live file last.
const (
	LogFile       = "container.log"
	LogTimeFormat = "2006-01-02T15:04:05.000000000Z"

	stdoutFifo = "stdout.fifo"
	stderrFifo = "stderr.fifo"

	defaultLogMaxSize  = 10 << 20
	defaultLogMaxFiles = 3
	logMaxLine         = 16 << 10
	logQueueBytes      = 1 << 20
	logQueueEntries    = 1024
)

// makeFifo creates the FIFO at path unless one is there.
func makeFifo(path string) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeNamedPipe != 0 {
			return nil
		}
		os.Remove(path)
	}
	if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create log fifo: %w", err)
	}
	return nil
}

// openFifoReader opens a FIFO for reading without blocking, so the file
// is served by Go's poller. It reads EOF once no writer is left, so a
// writer must exist first.
func openFifoReader(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open log fifo: %w", err)
	}
	return f, nil
}

type logEntry struct {
	t       time.Time
	stream  string
	partial bool
	text    []byte
	synced  chan struct{} // a barrier, not output: closed once all before it is written
}

// logger is one container's log: a bounded queue and its writer. The
// queue is a slice that is dropped whenever the writer catches up, so an
// idle container's log costs no buffer (a supervisor holds 50 or more).
type logger struct {
	clock       clock.Clock
	nonBlocking bool
	dropped     atomic.Int64 // since the last note in the file
	total       atomic.Int64 // ever
	done        chan struct{}
	wake        chan struct{} // one pending wake-up for the writer
	mu          sync.Mutex
	room        *sync.Cond // signalled when the queue shrinks or closed is set
	q           []logEntry // under mu
	queued      int64      // bytes in q and in the writer's batch; under mu
	closed      bool       // under mu
	w           *rotator
	scratch     []byte
}

func newLogger(dir string, maxSize int64, maxFiles int, nonBlocking bool, c clock.Clock) (*logger, error) {
	if maxSize <= 0 {
		maxSize = defaultLogMaxSize
	}
	if maxFiles <= 0 {
		maxFiles = defaultLogMaxFiles
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	w := &rotator{path: filepath.Join(dir, LogFile), maxSize: maxSize, maxFiles: maxFiles}
	if err := w.open(); err != nil {
		return nil, err
	}
	l := &logger{clock: c, nonBlocking: nonBlocking, done: make(chan struct{}), wake: make(chan struct{}, 1), w: w}
	l.room = sync.NewCond(&l.mu)
	go l.write()
	return l, nil
}

// push queues an entry. When the queue is full it waits for room, or in
// non-blocking mode drops the entry.
func (l *logger) push(e logEntry) {
	n := int64(len(e.text))
	l.mu.Lock()
	for !l.closed && l.full(n) {
		if l.nonBlocking {
			l.mu.Unlock()
			l.drop(n)
			return
		}
		l.room.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.q = append(l.q, e)
	l.queued += n
	l.mu.Unlock()
	l.signal()
}

// full reports whether an entry of n bytes must wait. An entry always
// fits an empty queue, however long.
func (l *logger) full(n int64) bool {
	if len(l.q) >= logQueueEntries {
		return true
	}
	return l.queued > 0 && l.queued+n > logQueueBytes
}

func (l *logger) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// sync returns once everything pushed before it is in the file.
func (l *logger) sync() {
	done := make(chan struct{})
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return
	}
	// A barrier is not output: it does not wait for room.
	l.q = append(l.q, logEntry{synced: done})
	l.mu.Unlock()
	l.signal()
	<-done
}

func (l *logger) drop(n int64) {
	l.dropped.Add(n)
	l.total.Add(n)
}

// read copies one stream into the queue until EOF.
func (l *logger) read(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 4096)
	var part []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			full := chunk[len(chunk)-1] == '\n'
			if full {
				chunk = chunk[:len(chunk)-1]
			}
			part = append(part, chunk...)
			for len(part) > logMaxLine {
				l.push(logEntry{t: l.clock.Now(), stream: stream, partial: true, text: part[:logMaxLine:logMaxLine]})
				part = append([]byte(nil), part[logMaxLine:]...)
			}
			if full {
				l.push(logEntry{t: l.clock.Now(), stream: stream, text: part})
				part = nil
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if len(part) > 0 {
				l.push(logEntry{t: l.clock.Now(), stream: stream, partial: true, text: part})
			}
			return
		}
	}
}

func (l *logger) write() {
	defer close(l.done)
	var batch []logEntry
	var barriers []chan struct{}
	for {
		l.mu.Lock()
		for len(l.q) == 0 && !l.closed {
			l.mu.Unlock()
			<-l.wake
			l.mu.Lock()
		}
		if len(l.q) == 0 {
			l.mu.Unlock()
			break
		}
		batch, l.q = l.q, batch[:0]
		l.mu.Unlock()

		var n int64
		for _, e := range batch {
			if e.synced != nil {
				barriers = append(barriers, e.synced)
				continue
			}
			n += int64(len(e.text))
			l.add(e)
			if len(l.w.pending) >= 64<<10 {
				_ = l.w.flush()
			}
		}
		if len(barriers) > 0 {
			l.noteDrops(l.clock.Now())
		}
		_ = l.w.flush()
		clear(batch) // the texts are garbage now
		if cap(batch) > 64 {
			batch = nil
		}

		l.mu.Lock()
		l.queued -= n
		idle := len(l.q) == 0
		l.room.Broadcast()
		l.mu.Unlock()
		for _, b := range barriers {
			close(b)
		}
		barriers = barriers[:0]
		if idle {
			// Nothing is pending: give the buffers back.
			l.w.pending, l.scratch = nil, nil
		}
	}
	l.noteDrops(l.clock.Now())
	l.w.close()
}

// noteDrops writes how much was dropped since the last note, if any.
func (l *logger) noteDrops(t time.Time) {
	if d := l.dropped.Swap(0); d > 0 {
		msg := "dropped " + strconv.FormatInt(d, 10) + " bytes of output: the log writer fell behind"
		l.w.add(appendEntry(nil, logEntry{t: t, stream: "hoist", text: []byte(msg)}))
	}
}

func (l *logger) add(e logEntry) {
	l.noteDrops(e.t)
	l.scratch = appendEntry(l.scratch[:0], e)
	l.w.add(l.scratch)
	if cap(l.scratch) > 64<<10 {
		l.scratch = nil
	}
}

// close stops queueing, writes what is queued and closes the file.
func (l *logger) close() {
	l.mu.Lock()
	l.closed = true
	l.room.Broadcast()
	l.mu.Unlock()
	l.signal()
	<-l.done
}

func appendEntry(b []byte, e logEntry) []byte {
	b = e.t.UTC().AppendFormat(b, LogTimeFormat)
	b = append(b, ' ')
	b = append(b, e.stream...)
	if e.partial {
		b = append(b, " P "...)
	} else {
		b = append(b, " F "...)
	}
	b = append(b, e.text...)
	return append(b, '\n')
}

// rotator is a size-capped file with numbered predecessors.
type rotator struct {
	path     string
	maxSize  int64
	maxFiles int
	f        *os.File
	size     int64
	pending  []byte
}

func (r *rotator) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	r.f, r.size = f, fi.Size()
	return nil
}

// add buffers one entry, writing out and rotating first when the entry
// would take the file past its cap.
func (r *rotator) add(entry []byte) {
	if r.size+int64(len(r.pending)) > 0 && r.size+int64(len(r.pending)+len(entry)) > r.maxSize {
		_ = r.flush()
		_ = r.rotate()
	}
	r.pending = append(r.pending, entry...)
}

// flush writes the buffered entries.
func (r *rotator) flush() error {
	if len(r.pending) == 0 {
		return nil
	}
	if r.f == nil {
		if err := r.open(); err != nil {
			r.pending = r.pending[:0]
			return err
		}
	}
	n, err := r.f.Write(r.pending)
	r.size += int64(n)
	r.pending = r.pending[:0]
	if cap(r.pending) > 256<<10 {
		r.pending = nil
	}
	return err
}

func (r *rotator) rotate() error {
	r.f.Close()
	r.f = nil
	if r.maxFiles <= 1 {
		os.Remove(r.path)
	} else {
		os.Remove(fmt.Sprintf("%s.%d", r.path, r.maxFiles-1))
		for i := r.maxFiles - 2; i >= 1; i-- {
			_ = os.Rename(fmt.Sprintf("%s.%d", r.path, i), fmt.Sprintf("%s.%d", r.path, i+1))
		}
		_ = os.Rename(r.path, r.path+".1")
	}
	return r.open()
}

func (r *rotator) close() {
	_ = r.flush()
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}
