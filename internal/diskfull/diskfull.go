// Package diskfull recognises a full disk (ENOSPC, EDQUOT) in an error,
// wherever it was wrapped, and says so on one line with where: the file
// system that is full and the file that was being written. The CLI runs
// every error it prints through Explain.
package diskfull

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
)

// Error is a full disk: Mount is the full file system's mount point,
// Path the file being written ("" when unknown).
type Error struct {
	Mount, Path string
	Err         error
}

func (e *Error) Error() string {
	where := "the engine's host"
	if e.Mount != "" {
		where = "the file system at " + e.Mount
	}
	msg := "the disk is full: no space left on " + where
	if e.Path != "" {
		msg += " (writing " + e.Path + ")"
	}
	return msg + ": " + oneLine(e.Err.Error())
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether err says a disk is full: an ENOSPC or EDQUOT in its
// chain, or a remote engine's message for one (the Docker daemon sends
// text, not an errno).
func Is(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	return strings.Contains(err.Error(), "no space left on device")
}

// Explain returns err as an *Error when it says a disk is full, else err.
func Explain(err error) error {
	if !Is(err) {
		return err
	}
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	e := &Error{Err: err}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		e.Path = pe.Path
		e.Mount = mountOf(pe.Path)
	}
	return e
}

// mountOf is the mount point of the file system holding path: the
// highest ancestor on the same device.
func mountOf(path string) string {
	if !filepath.IsAbs(path) {
		// Relative to a directory the error does not name (a write
		// through a descriptor of one): where is unknown. (Walking up
		// from "." would never reach "/".)
		return ""
	}
	dir := filepath.Dir(filepath.Clean(path))
	var st syscall.Stat_t
	for syscall.Stat(dir, &st) != nil {
		if dir == "/" || dir == "." {
			return ""
		}
		dir = filepath.Dir(dir)
	}
	dev := st.Dev
	for dir != "/" {
		up := filepath.Dir(dir)
		if syscall.Stat(up, &st) != nil || st.Dev != dev {
			break
		}
		dir = up
	}
	return dir
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
