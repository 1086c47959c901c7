package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/hoist-dev/hoist/engine/native/runtime/state"
)

// RestoreNetworks writes the run dir's record of every network whose
// durable copy survived a reboot that took the run dir, and returns their
// names. The bridges themselves are made again when a container attaches.
func (l Layout) RestoreNetworks() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(l.durableNetworksDir(), "*.json"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		var n Network
		if err := ReadJSON(p, &n); err != nil {
			return out, fmt.Errorf("restore network record %s: %w", p, err)
		}
		if _, err := os.Stat(l.networkPath(n.Name)); err == nil {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return out, err
		}
		if err := CreateFileExclusive(l.networkPath(n.Name), b); err != nil && !errors.Is(err, fs.ErrExist) {
			return out, fmt.Errorf("restore network record %s: %w", n.Name, err)
		}
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out, nil
}

// RestoreRecords writes the run dir's record, name and state of every
// container whose durable copy survived a reboot that took the run dir,
// and returns them. Their state is "exited" (255, as Docker reports a
// container the host's end killed): whatever ran is gone. A durable copy
// that cannot be read is skipped (hoist system check reports it).
func (l Layout) RestoreRecords() ([]*Record, error) {
	paths, err := filepath.Glob(l.DurableRecordPath("*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []*Record
	var errs []error
	for _, p := range paths {
		var r Record
		if err := ReadJSON(p, &r); err != nil || r.ID != filepath.Base(filepath.Dir(p)) {
			continue
		}
		if _, err := os.Stat(filepath.Join(l.StateDir(r.Project, r.ID), ConfigFile)); err == nil {
			continue
		}
		if err := l.restore(&r); err != nil {
			errs = append(errs, fmt.Errorf("restore container %s: %w", r.Name, err))
			continue
		}
		out = append(out, &r)
	}
	return out, errors.Join(errs...)
}

func (l Layout) restore(r *Record) error {
	switch p, id, err := l.Lookup(r.Name); {
	case err == nil && p == r.Project && id == r.ID:
	case err == nil:
		return fmt.Errorf("its name is taken by container %s of project %s", id, p)
	default:
		os.Remove(l.NamePath(r.Name)) // stale: it names no container
		if err := l.ReserveName(r.Name, r.Project, r.ID); err != nil {
			return err
		}
	}
	dir := l.StateDir(r.Project, r.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := state.Write(dir, state.State{Status: state.Exited, ExitCode: 255, Error: "the host restarted"}); err != nil {
		return err
	}
	return l.writeRunRecord(r)
}
