//go:build !hoistinit

package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/hoist-dev/hoist/internal/rootfswrite"
	"github.com/hoist-dev/hoist/internal/roottar"
)

// FileStat describes a file in a container, without following it.
type FileStat = roottar.Stat

// ErrCopyNotFound is wrapped by copy errors about a path that is not there.
var ErrCopyNotFound = errors.New("in the container")

// CopyTarget is the container a copy reaches: a running one by the pid
// of its init, whose mount namespace (its root and its mounts) the helper
// joins, or a stopped one by what makes its file system.
type CopyTarget struct {
	Pid     int
	Stopped *CopyStopped
}

// CopyStopped is a stopped container's file system: its overlay mounted
// on Rootfs, read-only with ReadonlyRootfs, and its Mounts on it. The
// caller keeps the container from starting meanwhile.
type CopyStopped struct {
	Rootfs         string  `json:"rootfs"`
	Overlay        Overlay `json:"overlay"`
	ReadonlyRootfs bool    `json:"readonly_rootfs,omitempty"`
	Mounts         []Mount `json:"mounts,omitempty"`
}

// CopyStat describes path in the container.
func CopyStat(ctx context.Context, t CopyTarget, path string) (FileStat, error) {
	h, err := startCopyHelper(ctx, t, copyConfig{Op: "stat", Path: path}, nil, nil)
	if err != nil {
		return FileStat{}, err
	}
	st, err := h.first()
	if err == nil {
		err = h.wait()
	}
	return st, err
}

// CopyArchive returns a tar stream of path in the container (see
// roottar.Write; the top entry is named as path's last component) and
// its stat. Closing the stream ends the helper; a failure of the helper
// is the stream's error.
func CopyArchive(ctx context.Context, t CopyTarget, path string) (io.ReadCloser, FileStat, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, FileStat{}, err
	}
	h, err := startCopyHelper(ctx, t, copyConfig{Op: "archive", Path: path}, nil, pw)
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, FileStat{}, err
	}
	st, err := h.first()
	if err != nil {
		pr.Close()
		_ = h.wait()
		return nil, FileStat{}, err
	}
	return &helperStream{r: pr, h: h}, st, nil
}

// CopyExtract extracts the tar stream r into dir, an existing directory
// of the container; with copyUIDGID and user (the container's user, as
// in its Spec) the files get that user's ids, else the archive's.
func CopyExtract(ctx context.Context, t CopyTarget, dir string, r io.Reader, copyUIDGID bool, user string) error {
	h, err := startCopyHelper(ctx, t, copyConfig{Op: "extract", Path: dir, CopyUIDGID: copyUIDGID, User: user}, r, nil)
	if err != nil {
		return err
	}
	if _, err := h.first(); err != nil {
		_ = h.wait()
		return err
	}
	return h.wait()
}

// CopySync applies watch sync changes in the container (see
// internal/rootfswrite: the rule's target resolved in the container's
// root, nothing below it a symlink). The content of change i, when there
// is one, is the entry named i of the tar stream r: a regular file, a
// symlink or a directory.
func CopySync(ctx context.Context, t CopyTarget, changes []rootfswrite.Change, r io.Reader) error {
	h, err := startCopyHelper(ctx, t, copyConfig{Op: "sync", Changes: changes}, r, nil)
	if err != nil {
		return err
	}
	if _, err := h.first(); err != nil {
		_ = h.wait()
		return err
	}
	return h.wait()
}

// copyHelper is a started copy helper.
type copyHelper struct {
	cmd     *exec.Cmd
	results *json.Decoder
	resultR *os.File
	stderr  *limitedBuffer
	waited  bool
}

// limitedBuffer keeps the first bytes of the helper's stderr (a panic's
// message), for the error.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func startCopyHelper(ctx context.Context, t CopyTarget, cfg copyConfig, stdin io.Reader, stdout *os.File) (*copyHelper, error) {
	var mnt *os.File
	if t.Stopped == nil {
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", t.Pid))
		if err != nil {
			return nil, fmt.Errorf("open container mount namespace: %w", err)
		}
		defer f.Close()
		mnt = f
	}
	cfg.Stopped = t.Stopped
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	resR, resW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer resW.Close()
	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{roleCopy}
	cmd.Env = []string{}
	cmd.Stdin = stdin
	if stdout != nil {
		cmd.Stdout = stdout
	}
	// fdConfig, fdError (unused: results go to fdCopyResult), fdMountNS,
	// then fdCopyResult.
	cmd.ExtraFiles = []*os.File{cfgR, nil, mnt, resW}
	// A stdin that is not a file is copied by a goroutine that may be
	// blocked in a read when the helper is done: Wait does not wait long.
	cmd.WaitDelay = 200 * time.Millisecond
	stderr := &limitedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		resR.Close()
		return nil, fmt.Errorf("start copy helper: %w", err)
	}
	if err := writeJSON(cfgW, cfg); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		resR.Close()
		return nil, fmt.Errorf("send copy config: %w", err)
	}
	return &copyHelper{cmd: cmd, results: json.NewDecoder(resR), resultR: resR, stderr: stderr}, nil
}

// first reads the helper's first result: the path resolved (and its
// stat), or why not.
func (h *copyHelper) first() (FileStat, error) {
	var res copyResult
	if err := h.results.Decode(&res); err != nil {
		// No result: the helper died; its exit says why.
		if werr := h.wait(); werr != nil {
			return FileStat{}, werr
		}
		return FileStat{}, errors.New("copy helper: exited without a result")
	}
	if err := res.err(); err != nil {
		return FileStat{}, err
	}
	if res.Stat == nil {
		return FileStat{}, nil
	}
	return *res.Stat, nil
}

func (r copyResult) err() error {
	switch {
	case r.NotFound:
		return fmt.Errorf("%s %w", r.Error, ErrCopyNotFound)
	case r.Error != "":
		return errors.New(r.Error)
	}
	return nil
}

// wait waits for the helper, once, and returns its failure, if any: a
// result line it wrote, or its exit.
func (h *copyHelper) wait() error {
	if h.waited {
		return nil
	}
	h.waited = true
	var res copyResult
	derr := h.results.Decode(&res)
	h.resultR.Close()
	err := h.cmd.Wait()
	if derr == nil {
		if rerr := res.err(); rerr != nil {
			return rerr
		}
	}
	if err != nil {
		if msg := string(h.stderr.b); msg != "" {
			return fmt.Errorf("copy helper: %w: %s", err, msg)
		}
		return fmt.Errorf("copy helper: %w", err)
	}
	return nil
}

// helperStream is an archive being read from the helper.
type helperStream struct {
	r    *os.File
	h    *copyHelper
	done bool
	err  error
}

func (s *helperStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF && !s.done {
		// The end of the stream: it is whole only if the helper says so.
		s.done = true
		if s.err = s.h.wait(); s.err != nil {
			return n, s.err
		}
	}
	if err == io.EOF && s.err != nil {
		return n, s.err
	}
	return n, err
}

func (s *helperStream) Close() error {
	s.r.Close()
	if !s.done {
		s.done = true
		_ = s.h.cmd.Process.Kill()
		s.err = s.h.wait()
	}
	return nil
}
