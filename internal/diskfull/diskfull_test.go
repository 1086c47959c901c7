package diskfull

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExplain(t *testing.T) {
	plain := errors.New("other")
	if Explain(plain) != plain || Explain(nil) != nil {
		t.Error("an error that is no full disk changed")
	}
	pe := &fs.PathError{Op: "write", Path: "/proc/self/x/y", Err: syscall.ENOSPC}
	err := Explain(fmt.Errorf("create network %q: %w\nmore", "n", pe))
	var de *Error
	if !errors.As(err, &de) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Explain = %#v", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "the disk is full: no space left on the file system at /proc (writing /proc/self/x/y): create network") || strings.Contains(msg, "\n") {
		t.Errorf("message %q", msg)
	}
	if got := Explain(errors.New("Error response from daemon: write /var/lib/docker/x: no space left on device")).Error(); !strings.HasPrefix(got, "the disk is full: no space left on the engine's host: Error response") {
		t.Errorf("docker's message: %q", got)
	}
	if Explain(err) != err {
		t.Error("explained twice")
	}
}

// TestExplainRelativePath: a write through a directory's descriptor names
// its file relative to it; Explain says the disk is full without where
// (it once walked up from "." for ever).
func TestExplainRelativePath(t *testing.T) {
	done := make(chan string, 1)
	go func() {
		done <- Explain(&fs.PathError{Op: "write", Path: "big", Err: syscall.ENOSPC}).Error()
	}()
	select {
	case got := <-done:
		if want := "the disk is full: no space left on the engine's host (writing big): write big: no space left on device"; got != want {
			t.Errorf("Explain = %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Explain of a relative path never returned")
	}
}
