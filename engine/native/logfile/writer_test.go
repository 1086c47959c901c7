package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/clock"
)

// TestLogBlockingKeepsAll: in the default (blocking) mode, output far
// beyond the queue's bound is all written, and sync makes it readable
// before the log closes.
func TestLogBlockingKeepsAll(t *testing.T) {
	dir := t.TempDir()
	l, err := NewWriter(dir, 1<<30, 1, false, clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const lines = 200000 // about 16 MB, 16 times the queue
	line := strings.Repeat("y", 79) + "\n"
	l.Read("stdout", strings.NewReader(strings.Repeat(line, lines)+"last\n"))
	l.Sync()
	b, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != lines+1 || !strings.HasSuffix(string(b), " stdout F last\n") {
		t.Fatalf("%d lines, ends %q", n, b[max(0, len(b)-40):])
	}
	if d := l.total.Load(); d != 0 {
		t.Fatalf("dropped %d bytes", d)
	}
}

// TestLogNonBlockingDrops: in non-blocking mode a full queue drops
// output, counts it, and notes it in the file.
func TestLogNonBlockingDrops(t *testing.T) {
	dir := t.TempDir()
	l, err := NewWriter(dir, 1<<30, 1, true, clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	// Hold the queue full as the writer would see it under load.
	l.mu.Lock()
	l.queued = queueBytes
	l.mu.Unlock()
	l.push(logEntry{t: time.Now(), stream: "stdout", text: []byte("lost")})
	l.mu.Lock()
	l.queued = 0
	l.mu.Unlock()
	l.push(logEntry{t: time.Now(), stream: "stdout", text: []byte("kept")})
	l.Close()
	b, _ := os.ReadFile(filepath.Join(dir, File))
	if l.total.Load() != 4 || strings.Contains(string(b), "lost") || !strings.Contains(string(b), " hoist F dropped 4 bytes") || !strings.Contains(string(b), " stdout F kept") {
		t.Fatalf("total %d, log %q", l.total.Load(), b)
	}
}

func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	l, err := NewWriter(dir, 1000, 3, false, clock.Real())
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 99) + "\n"
	l.Read("stdout", strings.NewReader(strings.Repeat(line, 100)+"tail"))
	l.Close()
	names, _ := filepath.Glob(filepath.Join(dir, File+"*"))
	if len(names) != 3 {
		t.Fatalf("files %v, want 3", names)
	}
	b, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	last := lines[len(lines)-1]
	if _, err := time.Parse(TimeFormat, last[:len(TimeFormat)]); err != nil || !strings.HasSuffix(last, " stdout P tail") {
		t.Fatalf("last line %q (%v)", last, err)
	}
	for _, n := range names {
		if fi, _ := os.Stat(n); fi.Size() > 1000 {
			t.Fatalf("%s: %d bytes", n, fi.Size())
		}
	}
}
