package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Problem is one thing Check found wrong with the containers' records.
type Problem struct {
	// Path is the file or directory at fault.
	Path string
	// What says what is wrong.
	What string
	// Repaired says what Check did about it with repair, "" when nothing.
	Repaired string
}

// CheckOptions configure Check.
type CheckOptions struct {
	// Repair removes what cannot be trusted: a container whose record
	// cannot be read or whose layers are gone, a writable layer no record
	// names, a name that names no container. A record whose twin (the
	// run dir's or the durable copy) is sound is written again instead.
	Repair bool
	// Remove removes a container as the engine does (its processes,
	// mounts and network too); Check falls back on Forget when it fails
	// or is nil.
	Remove func(project, id string) error
	// Reported are paths already reported (the image store's layers): a
	// container is not said to miss them again.
	Reported map[string]bool
}

// Check verifies every container: its record in the run dir against its
// durable copy (DurableRecordPath), its writable layer, the image layers
// its record names, and the names index. Named volumes are never
// touched. Check must not run alongside commands that create or remove
// containers: a container being created has its layer before its record.
func (l Layout) Check(opts CheckOptions) ([]Problem, error) {
	c := &containerCheck{l: l, opts: opts}
	ids, err := c.ids()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := c.container(id); err != nil {
			return c.problems, err
		}
	}
	if err := c.names(); err != nil {
		return c.problems, err
	}
	return c.problems, nil
}

type containerCheck struct {
	l        Layout
	opts     CheckOptions
	problems []Problem
	// run maps the IDs with a record dir in the run dir to their project.
	run map[string]string
}

func (c *containerCheck) add(p, what string, fix func() (string, error)) error {
	pr := Problem{Path: p, What: what}
	if c.opts.Repair && fix != nil {
		done, err := fix()
		if err != nil {
			return fmt.Errorf("repair %s: %w", p, err)
		}
		pr.Repaired = done
	}
	c.problems = append(c.problems, pr)
	return nil
}

// ids are the containers the run dir or the store knows, sorted.
func (c *containerCheck) ids() ([]string, error) {
	c.run = map[string]string{}
	set := map[string]bool{}
	dirs, err := filepath.Glob(c.l.StateDir("*", "*"))
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue // the supervisor's files share the dir
		}
		id := filepath.Base(d)
		c.run[id] = filepath.Base(filepath.Dir(filepath.Dir(d)))
		set[id] = true
	}
	ents, err := os.ReadDir(filepath.Join(c.l.Root, "containers"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check containers: %w", err)
	}
	for _, e := range ents {
		set[e.Name()] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, nil
}

// remove removes the container project/id, through the engine if it can.
func (c *containerCheck) remove(project, id string) (string, error) {
	if c.opts.Remove != nil && project != "" {
		if err := c.opts.Remove(project, id); err == nil {
			return "container removed", nil
		}
	}
	return "container forgotten", c.l.Forget(project, id)
}

func (c *containerCheck) container(id string) error {
	project, inRun := c.run[id]
	runPath := filepath.Join(c.l.StateDir(project, id), ConfigFile)
	durPath := c.l.DurableRecordPath(id)
	var run, dur Record
	runErr, durErr := fs.ErrNotExist, ReadJSON(durPath, &dur)
	if inRun {
		runErr = ReadJSON(runPath, &run)
	}
	_, layerErr := os.Stat(c.l.LayerDir(id))
	switch {
	case inRun && runErr != nil && durErr == nil && dur.Project == project:
		// A run record cut short (a crash where /run is on disk).
		return c.add(runPath, "container record cannot be read: "+runErr.Error(), func() (string, error) {
			return "written again from its durable copy", c.l.writeRunRecord(&dur)
		})
	case inRun && runErr != nil:
		return c.add(runPath, "container record cannot be read: "+runErr.Error(), func() (string, error) {
			return c.remove(project, id)
		})
	case !inRun && durErr != nil && !errors.Is(durErr, fs.ErrNotExist):
		return c.add(durPath, "container record cannot be read: "+durErr.Error(), func() (string, error) {
			return c.remove("", id)
		})
	case !inRun && durErr != nil:
		if layerErr != nil {
			return nil
		}
		return c.add(c.l.LayerDir(id), "writable layer of no container", func() (string, error) {
			return c.remove("", id)
		})
	}
	r := &dur
	if inRun {
		r = &run
		if (durErr != nil || dur.Project != run.Project) && !run.OneOff && layerErr == nil {
			// A container of an earlier hoist, or a copy cut short.
			if err := c.add(durPath, "container has no sound durable record (it would not survive a reboot)", func() (string, error) {
				return "written from the run dir's", WriteDurableJSON(durPath, &run)
			}); err != nil {
				return err
			}
		}
	}
	if r.ID != id {
		return c.add(runPath, fmt.Sprintf("record names container %q", r.ID), func() (string, error) {
			return c.remove(project, id)
		})
	}
	var missing []string
	for _, d := range []string{"", "upper", "work"} {
		if _, err := os.Lstat(filepath.Join(c.l.LayerDir(id), d)); err != nil {
			missing = append(missing, filepath.Join(c.l.LayerDir(id), d))
			break
		}
	}
	for _, l := range r.Layers {
		if _, err := os.Lstat(l); err != nil && !c.opts.Reported[l] {
			missing = append(missing, l)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return c.add(runPath, fmt.Sprintf("container %s: its layers are gone: %s", r.Name, strings.Join(missing, ", ")), func() (string, error) {
		return c.remove(r.Project, id)
	})
}

// names checks that each name names a container that is there.
func (c *containerCheck) names() error {
	paths, err := filepath.Glob(c.l.NamePath("*"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // removed meanwhile
		}
		project, id, ok := strings.Cut(string(data), "/")
		if ok {
			if _, err := os.Stat(filepath.Join(c.l.StateDir(project, id), ConfigFile)); err == nil {
				continue
			}
		}
		if err := c.add(p, fmt.Sprintf("name of container %q, which is gone", string(data)), func() (string, error) {
			return "removed", os.Remove(p)
		}); err != nil {
			return err
		}
	}
	return nil
}

// Forget removes what the store holds of container id of project (project
// may be empty when unknown): its durable record, run dir record, names,
// rootfs mount and writable layer. It stops no process: the engine's
// removal does, and Forget is for a container the engine cannot read.
func (l Layout) Forget(project, id string) error {
	if err := os.Remove(l.DurableRecordPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if project != "" {
		if err := os.RemoveAll(l.StateDir(project, id)); err != nil {
			return err
		}
	}
	names, _ := filepath.Glob(l.NamePath("*"))
	for _, n := range names {
		if data, err := os.ReadFile(n); err == nil && strings.HasSuffix(string(data), "/"+id) {
			os.Remove(n)
		}
	}
	if err := unix.Unmount(l.Rootfs(id), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", l.Rootfs(id), err)
	}
	return os.RemoveAll(l.LayerDir(id))
}
