package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// legacyLogs copies the output of a container started by an earlier
// version of hoist, from its monitor's raw log files: Tail applies to
// each stream, and Since and Timestamps are not available.
func (b *Backend) legacyLogs(ctx context.Context, r *record, opts engine.LogOptions, stdout, stderr io.Writer) error {
	var err error
	if opts.Since != "" || opts.Timestamps {
		return fmt.Errorf("logs of %s: --since and --timestamps need per-line times, which the native runtime's log files do not record yet: %w", r.Name, engine.ErrNotImplemented)
	}
	tail := -1
	if opts.Tail != "" && opts.Tail != "all" {
		if tail, err = strconv.Atoi(opts.Tail); err != nil || tail < 0 {
			return fmt.Errorf("logs: invalid tail %q", opts.Tail)
		}
	}
	dir := b.stateDir(r.Project, r.ID)
	var w *fsnotify.Watcher
	if opts.Follow {
		// Watch before the first read, so no write is missed.
		if w, err = fsnotify.NewWatcher(); err != nil {
			return err
		}
		defer w.Close()
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("logs of %s: watch: %w", r.Name, err)
		}
	}
	streams := []*logStream{
		{path: filepath.Join(dir, runtime.StdoutLog), out: stdout},
		{path: filepath.Join(dir, runtime.StderrLog), out: stderr},
	}
	for _, s := range streams {
		defer s.close()
		if err := s.open(tail); err != nil {
			return fmt.Errorf("logs of %s: %w", r.Name, err)
		}
		if err := s.copy(); err != nil {
			return fmt.Errorf("logs of %s: %w", r.Name, err)
		}
	}
	if !opts.Follow {
		return nil
	}
	for {
		st, started, err := b.status(r)
		if err != nil {
			return fmt.Errorf("logs of %s: %w", r.Name, err)
		}
		if started && st.Status == runtime.StatusExited {
			// The monitor closed the logs before recording the exit:
			// one last read gets everything.
			for _, s := range streams {
				if err := s.copy(); err != nil {
					return fmt.Errorf("logs of %s: %w", r.Name, err)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			return fmt.Errorf("logs of %s: watch: %w", r.Name, err)
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Name == dir && ev.Has(fsnotify.Remove) {
				return nil // the container was removed
			}
		case <-time.After(recheck):
		}
		for _, s := range streams {
			if err := s.copy(); err != nil {
				return fmt.Errorf("logs of %s: %w", r.Name, err)
			}
		}
	}
}

// logStream is one log file being copied out.
type logStream struct {
	path string
	out  io.Writer
	f    *os.File
}

// open opens the file (it appears when the container first starts) and
// positions it at the start of the last tail lines (tail < 0: all).
func (s *logStream) open(tail int) error {
	if s.f != nil {
		return nil
	}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s.f = f
	if tail >= 0 {
		off, err := tailOffset(f, tail)
		if err != nil {
			return err
		}
		_, err = f.Seek(off, io.SeekStart)
		return err
	}
	return nil
}

func (s *logStream) copy() error {
	if s.f == nil {
		if err := s.open(-1); err != nil || s.f == nil {
			return err
		}
	}
	if s.out == nil {
		s.out = io.Discard
	}
	_, err := io.Copy(s.out, s.f)
	return err
}

func (s *logStream) close() {
	if s.f != nil {
		s.f.Close()
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
