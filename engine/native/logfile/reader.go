package logfile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options are what Copy shows.
type Options struct {
	// Tail counts entries from the end; negative: all.
	Tail int
	// Since drops older entries, Until newer ones (Until excluded); zero:
	// no bound.
	Since, Until time.Time
	// Timestamps prefixes each line with its time.
	Timestamps bool
	// Follow streams new output until ended says no more will come, the
	// dir is removed, or ctx ends.
	Follow bool
}

// Copy copies the log of the container whose log dir is dir (File and its
// rotations, oldest first) to stdout and stderr, one entry per line, as
// o says. With o.Follow it streams new output, through rotations and
// restarts, until ended reports that no more will come (it is asked at
// most every 200 ms), the dir is removed, or ctx ends.
func Copy(ctx context.Context, dir string, o Options, stdout, stderr io.Writer, ended func() bool) error {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	p := &Printer{Stdout: stdout, Stderr: stderr, Timestamps: o.Timestamps}
	if !o.Since.IsZero() {
		p.since = o.Since.UTC().Format(TimeFormat)
	}
	if !o.Until.IsZero() {
		p.until = o.Until.UTC().Format(TimeFormat)
	}
	var w *fsnotify.Watcher
	if o.Follow {
		// Watch before the first read, so no write is missed.
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			return err
		}
		defer w.Close()
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
	}
	f := &follower{dir: dir, p: p}
	defer f.close()
	if err := f.dump(o.Tail); err != nil {
		return err
	}
	if !o.Follow {
		return nil
	}
	lastCheck := time.Time{}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := f.follow(); err != nil {
			return err
		}
		if time.Since(lastCheck) >= 200*time.Millisecond {
			lastCheck = time.Now()
			if ended() {
				// One last read, once the writer had time to flush.
				t := time.NewTimer(200 * time.Millisecond)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
				return f.follow()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			return fmt.Errorf("watch: %w", err)
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Name == dir && ev.Has(fsnotify.Remove) {
				return nil // the container was removed
			}
		case <-tick.C:
		}
	}
}

// ParseSince parses docker's --since: a duration before now ("10m"), an
// RFC 3339 time or date, or Unix seconds.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use a duration (10m), an RFC 3339 time or Unix seconds", s)
}

// Printer writes log entries to the streams.
type Printer struct {
	Stdout, Stderr io.Writer
	// Timestamps prefixes each line with its time.
	Timestamps   bool
	since, until string // TimeFormat times, which sort as strings
	// midLine: the last entry of the stream was a part (P).
	midLine map[string]bool
}

// Entry writes one line of a log file (without its newline).
func (p *Printer) Entry(line []byte) error {
	// <time> <stream> <F|P> <text>
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return nil
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return nil
	}
	tag, text, _ := bytes.Cut(rest, []byte{' '})
	if (p.since != "" && string(ts) < p.since) || (p.until != "" && string(ts) >= p.until) {
		return nil
	}
	out := p.Stdout
	prefix := ""
	switch string(stream) {
	case "stdout":
	case "stderr":
		out = p.Stderr
	default:
		out, prefix = p.Stderr, "["+string(stream)+"] "
	}
	if p.midLine == nil {
		p.midLine = map[string]bool{}
	}
	var b []byte
	if p.Timestamps && !p.midLine[string(stream)] {
		b = append(b, ts...)
		b = append(b, ' ')
	}
	b = append(b, prefix...)
	b = append(b, text...)
	partial := string(tag) == "P"
	if !partial {
		b = append(b, '\n')
	}
	p.midLine[string(stream)] = partial
	_, err := out.Write(b)
	return err
}

// follower reads a container's log files in order and follows the live
// one through rotations.
type follower struct {
	dir  string
	p    *Printer
	f    *os.File // the file being read
	rd   *bufio.Reader
	part []byte // an incomplete last line
}

// logFiles are the container's log files, oldest first.
func (l *follower) logFiles() []string {
	base := filepath.Join(l.dir, File)
	var rotated []string
	for i := 1; ; i++ {
		p := fmt.Sprintf("%s.%d", base, i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		rotated = append(rotated, p)
	}
	out := make([]string, 0, len(rotated)+1)
	for i := len(rotated) - 1; i >= 0; i-- {
		out = append(out, rotated[i])
	}
	return append(out, base)
}

// dump prints the last tail entries (tail < 0: all) and leaves the live
// file open at its end.
func (l *follower) dump(tail int) error {
	files := l.logFiles()
	start, offset := 0, int64(0)
	if tail >= 0 {
		start = len(files)
		remaining := tail
		for i := len(files) - 1; i >= 0 && remaining > 0; i-- {
			data, err := os.ReadFile(files[i])
			if err != nil {
				continue
			}
			n := bytes.Count(data, []byte{'\n'})
			start = i
			if n >= remaining {
				f, err := os.Open(files[i])
				if err != nil {
					return err
				}
				offset, err = tailOffset(f, remaining)
				f.Close()
				if err != nil {
					return err
				}
				break
			}
			remaining -= n
		}
		if start == len(files) {
			// Nothing to print: follow from the live file's end.
			start = len(files) - 1
			if fi, err := os.Stat(files[start]); err == nil {
				offset = fi.Size()
			}
		}
	}
	for i := start; i < len(files); i++ {
		f, err := os.Open(files[i])
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if i == start && offset > 0 {
			if _, err := f.Seek(offset, io.SeekStart); err != nil {
				f.Close()
				return err
			}
		}
		l.setFile(f)
		if err := l.drain(); err != nil {
			return err
		}
	}
	return nil
}

func (l *follower) setFile(f *os.File) {
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.part = f, nil
	l.rd = bufio.NewReaderSize(f, 64<<10)
}

// drain prints the complete lines of the current file up to its end.
func (l *follower) drain() error {
	if l.f == nil {
		return nil
	}
	for {
		line, err := l.rd.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			l.part = append(l.part, line...)
			continue
		}
		if err == io.EOF {
			l.part = append(l.part, line...)
			return nil
		}
		if err != nil {
			return err
		}
		if len(l.part) > 0 {
			line = append(l.part, line...)
			l.part = nil
		}
		if err := l.p.Entry(line[:len(line)-1]); err != nil {
			return err
		}
	}
}

// follow prints what was written since, moving on to the next file
// when the current one was rotated away.
func (l *follower) follow() error {
	for {
		if l.f == nil {
			f, err := os.Open(filepath.Join(l.dir, File))
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			l.setFile(f)
		}
		if err := l.drain(); err != nil {
			return err
		}
		cur, err := l.f.Stat()
		if err != nil {
			return err
		}
		live, err := os.Stat(filepath.Join(l.dir, File))
		if err != nil || os.SameFile(cur, live) {
			return nil
		}
		// Rotated: what was written before the rotation is all there.
		if err := l.drain(); err != nil {
			return err
		}
		next := ""
		files := l.logFiles()
		for i, p := range files {
			if fi, err := os.Stat(p); err == nil && os.SameFile(fi, cur) && i+1 < len(files) {
				next = files[i+1]
			}
		}
		if next == "" {
			next = files[0] // ours was deleted: lines were lost
		}
		f, err := os.Open(next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOENT) {
				l.f = nil
				continue
			}
			return err
		}
		l.setFile(f)
	}
}

func (l *follower) close() {
	if l.f != nil {
		l.f.Close()
	}
}

// tailOffset returns the offset of the start of the last n lines of f
// (a final line without newline counts as a line).
func tailOffset(f *os.File, n int) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := fi.Size()
	if n == 0 {
		return end, nil
	}
	buf := make([]byte, 32*1024)
	pos := end
	lines := 0
	first := true
	for pos > 0 {
		k := int64(len(buf))
		if pos < k {
			k = pos
		}
		pos -= k
		if _, err := f.ReadAt(buf[:k], pos); err != nil && err != io.EOF {
			return 0, err
		}
		chunk := buf[:k]
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' {
				continue
			}
			if first && pos+int64(i) == end-1 {
				continue // the final newline ends the last line
			}
			lines++
			if lines == n {
				return pos + int64(i) + 1, nil
			}
		}
		first = false
	}
	return 0, nil
}
