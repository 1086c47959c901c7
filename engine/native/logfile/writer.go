package logfile

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

	"github.com/hoist-dev/hoist/internal/clock"
)

// Writing. One Writer per container drains a bounded queue into File.
// Read copies one output stream into the queue; when the writer falls
// behind and the queue holds queueBytes, Read waits for room, so the
// container's writes block as with Docker's default (blocking) log mode:
// no output is lost, and only the chatty container is slowed (each has
// its own queue and writer). In non-blocking mode (Docker's
// mode=non-blocking) further output is dropped and counted instead
// (Dropped) and a "hoist" line in the log says how much was lost. Sync
// returns once what was read before it is in the file, so the supervisor
// records an exit only once its output is complete.
const (
	defaultMaxSize  = 10 << 20
	defaultMaxFiles = 3
	maxLine         = 16 << 10
	queueBytes      = 1 << 20
	queueEntries    = 1024
)

type logEntry struct {
	t       time.Time
	stream  string
	partial bool
	text    []byte
	synced  chan struct{} // a barrier, not output: closed once all before it is written
}

// Writer is one container's log: a bounded queue and its writer. The
// queue is a slice that is dropped whenever the writer catches up, so an
// idle container's log costs no buffer (a supervisor holds 50 or more).
type Writer struct {
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

// NewWriter opens dir's File for appending: it rotates at maxSize bytes
// (0: 10 MiB) and keeps maxFiles files, the live one included (0: 3).
func NewWriter(dir string, maxSize int64, maxFiles int, nonBlocking bool, c clock.Clock) (*Writer, error) {
	if maxSize <= 0 {
		maxSize = defaultMaxSize
	}
	if maxFiles <= 0 {
		maxFiles = defaultMaxFiles
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	w := &rotator{path: filepath.Join(dir, File), maxSize: maxSize, maxFiles: maxFiles}
	if err := w.open(); err != nil {
		return nil, err
	}
	l := &Writer{clock: c, nonBlocking: nonBlocking, done: make(chan struct{}), wake: make(chan struct{}, 1), w: w}
	l.room = sync.NewCond(&l.mu)
	go l.write()
	return l, nil
}

// push queues an entry. When the queue is full it waits for room, or in
// non-blocking mode drops the entry.
func (l *Writer) push(e logEntry) {
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
func (l *Writer) full(n int64) bool {
	if len(l.q) >= queueEntries {
		return true
	}
	return l.queued > 0 && l.queued+n > queueBytes
}

func (l *Writer) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Sync returns once everything read before it is in the file.
func (l *Writer) Sync() {
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

func (l *Writer) drop(n int64) {
	l.dropped.Add(n)
	l.total.Add(n)
}

// Read copies one stream (stdout, stderr) into the queue until EOF.
func (l *Writer) Read(stream string, r io.Reader) {
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
			for len(part) > maxLine {
				l.push(logEntry{t: l.clock.Now(), stream: stream, partial: true, text: part[:maxLine:maxLine]})
				part = append([]byte(nil), part[maxLine:]...)
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

func (l *Writer) write() {
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

// noteDrops writes how much was dropped since the last note, if any, and
// how much could not be written (a full disk): once the file takes
// writes again, the log says what it lacks.
func (l *Writer) noteDrops(t time.Time) {
	if d := l.dropped.Swap(0); d > 0 {
		msg := "dropped " + strconv.FormatInt(d, 10) + " bytes of output: the log writer fell behind"
		l.w.add(appendEntry(nil, logEntry{t: t, stream: "hoist", text: []byte(msg)}))
	}
	if d := l.w.lost; d > 0 {
		msg := "lost " + strconv.FormatInt(d, 10) + " bytes of output: the log could not be written: " + l.w.lostErr.Error()
		l.w.lost, l.w.lostErr = 0, nil
		l.w.add(appendEntry(nil, logEntry{t: t, stream: "hoist", text: []byte(msg)}))
	}
}

func (l *Writer) add(e logEntry) {
	l.noteDrops(e.t)
	l.scratch = appendEntry(l.scratch[:0], e)
	l.w.add(l.scratch)
	if cap(l.scratch) > 64<<10 {
		l.scratch = nil
	}
}

// Close stops queueing, writes what is queued and closes the file.
func (l *Writer) Close() {
	l.mu.Lock()
	l.closed = true
	l.room.Broadcast()
	l.mu.Unlock()
	l.signal()
	<-l.done
}

// Dropped counts the bytes of output dropped (non-blocking mode) since
// the Writer opened.
func (l *Writer) Dropped() int64 { return l.total.Load() }

// appendEntry appends e as a line of File.
func appendEntry(b []byte, e logEntry) []byte {
	b = e.t.UTC().AppendFormat(b, TimeFormat)
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
	// lost counts the bytes of entries that could not be written (a full
	// disk), since the last note in the file; lostErr is the last error.
	lost    int64
	lostErr error
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
			r.lost, r.lostErr = r.lost+int64(len(r.pending)), err
			r.pending = r.pending[:0]
			return err
		}
	}
	n, err := r.f.Write(r.pending)
	if err != nil {
		// Whole entries or none: a cut one would spoil the file for the
		// reader. The container is not slowed or stopped for it (as
		// Docker's json-file does not stop it); the loss is noted.
		if n > 0 && r.f.Truncate(r.size) != nil {
			r.size += int64(n)
		}
		r.lost, r.lostErr = r.lost+int64(len(r.pending)), err
		n = 0
	}
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
