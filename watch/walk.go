package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// fileState is what a rescan compares to notice a change it has no event
// for. Size, mtime and mode catch every ordinary edit without reading
// contents.
type fileState struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
}

func stateOf(fi fs.FileInfo) fileState {
	return fileState{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode()}
}

// tree tracks the watched directories and the files below them. It is not
// safe for concurrent use; the watcher guards it.
type tree struct {
	rs   *ruleSet
	add  func(dir string) error // registers an inotify watch
	dirs map[string]struct{}
	snap map[string]fileState
	// born holds paths created since the flush that last saw them.
	born map[string]bool
}

func newTree(rs *ruleSet, add func(string) error) *tree {
	return &tree{rs: rs, add: add, dirs: map[string]struct{}{}, snap: map[string]fileState{}, born: map[string]bool{}}
}

// scanAll registers every root and returns a fresh snapshot of the files
// under them. Watches are (re-)added even when already present: inotify
// merges them, and a directory deleted and recreated under the same name
// needs a new one.
func (t *tree) scanAll() (map[string]fileState, error) {
	snap := map[string]fileState{}
	for _, r := range t.rs.all {
		if r.isFile {
			dir := filepath.Dir(r.root)
			if err := t.watchDir(dir); err != nil {
				return nil, err
			}
			if fi, err := os.Lstat(r.root); err == nil {
				snap[r.root] = stateOf(fi)
			}
			continue
		}
		if err := t.scanDir(r.root, snap, nil); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

func (t *tree) watchDir(d string) error {
	if err := t.add(d); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone before we got to it; its removal is an event of its own
		}
		return limitError(d, err)
	}
	t.dirs[d] = struct{}{}
	return nil
}

// scanDir watches d and every wanted directory below it, records the files
// found in snap and reports each through found. The watch is added before
// the directory is listed, so a file created meanwhile is either listed or
// produces an event (possibly both; batches deduplicate).
func (t *tree) scanDir(d string, snap map[string]fileState, found func(string)) error {
	if !t.rs.wantDir(d) {
		return nil
	}
	if err := t.watchDir(d); err != nil {
		return err
	}
	ents, err := os.ReadDir(d)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("watch: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(d, e.Name())
		if e.IsDir() {
			if e.Name() == ".git" {
				continue
			}
			if err := t.scanDir(p, snap, found); err != nil {
				return err
			}
			continue
		}
		if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue // sockets, fifos, devices: nothing to copy
		}
		if editorFile(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		snap[p] = stateOf(fi)
		if found != nil {
			found(p)
		}
	}
	return nil
}

// forget drops p and everything below it after p was deleted.
func (t *tree) forget(p string) {
	delete(t.snap, p)
	delete(t.dirs, p)
	prefix := p + string(filepath.Separator)
	for k := range t.snap {
		if strings.HasPrefix(k, prefix) {
			delete(t.snap, k)
		}
	}
	for k := range t.dirs {
		if strings.HasPrefix(k, prefix) {
			delete(t.dirs, k)
		}
	}
}

// diff returns the paths whose state differs between two snapshots, sorted.
func diff(old, cur map[string]fileState) []string {
	var out []string
	for p, s := range cur {
		if o, ok := old[p]; !ok || o != s {
			out = append(out, p)
		}
	}
	for p := range old {
		if _, ok := cur[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// limitError explains inotify limits, which otherwise surface as a bare
// "no space left on device" that sends people looking at their disks.
func limitError(dir string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("watch %s: inotify watch limit reached: fs.inotify.max_user_watches is %s; "+
			"raise it (sysctl -w fs.inotify.max_user_watches=524288) or ignore large trees such as node_modules: %w",
			dir, sysctlValue("max_user_watches"), err)
	case errors.Is(err, syscall.EMFILE):
		return fmt.Errorf("watch %s: too many inotify instances: fs.inotify.max_user_instances is %s; "+
			"raise it (sysctl -w fs.inotify.max_user_instances=512): %w",
			dir, sysctlValue("max_user_instances"), err)
	}
	return fmt.Errorf("watch %s: %w", dir, err)
}

func sysctlValue(name string) string {
	b, err := os.ReadFile("/proc/sys/fs/inotify/" + name)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
