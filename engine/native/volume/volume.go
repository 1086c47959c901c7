// Package volume is the native engine's volume store: named and anonymous
// local volumes under <Root>/volumes (each a _data directory, or a host
// directory for the local driver's bind options, and its volume.json),
// the resolution of a service's mounts into a container's (volumes
// created on use, bind sources checked or created), and the first fill
// of an empty volume from the image (copy-up), which never follows a link.
package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// LabelAnonymous marks an anonymous volume with the ID of its container.
const LabelAnonymous = "dev.hoist.anonymous"

// Record is a volume's volume.json.
type Record struct {
	Name    string            `json:"name"`
	Project string            `json:"project,omitempty"`
	Key     string            `json:"key,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Options map[string]string `json:"options,omitempty"`
	// Device is the host directory of a local volume with the bind
	// options (type=none, o=bind, device=...); empty means _data.
	Device  string    `json:"device,omitempty"`
	Created time.Time `json:"created"`
}

// Store is the volumes of the native store whose layout is Layout.
type Store struct {
	Layout store.Layout
}

// Dir is the volume's directory.
func (s Store) Dir(name string) string { return filepath.Join(s.Layout.VolumesDir(), name) }

// Create creates a local volume: a directory under <Root>/volumes.
func (s Store) Create(spec engine.VolumeSpec) error {
	if err := store.CheckName("volume", spec.Name); err != nil {
		return err
	}
	if spec.Driver != "" && spec.Driver != "local" {
		return fmt.Errorf("create volume %q: driver %q: %w by the native engine", spec.Name, spec.Driver, engine.ErrNotImplemented)
	}
	v := Record{Name: spec.Name, Project: spec.Project, Key: spec.Key, Options: spec.Options, Created: time.Now().UTC()}
	v.Labels = map[string]string{}
	if spec.Project != "" {
		v.Labels[engine.LabelProject] = spec.Project
	}
	if spec.Key != "" {
		v.Labels[engine.LabelVolume] = spec.Key
	}
	for k, val := range spec.Labels {
		v.Labels[k] = val
	}
	if len(spec.Options) > 0 {
		dev, err := bindDevice(spec.Options)
		if err != nil {
			return fmt.Errorf("create volume %q: %w", spec.Name, err)
		}
		v.Device = dev
	}
	return s.create(v)
}

// bindDevice accepts the local driver's bind options and returns the host
// directory.
func bindDevice(opts map[string]string) (string, error) {
	for k := range opts {
		if k != "type" && k != "o" && k != "device" {
			return "", fmt.Errorf("driver option %q: %w by the native engine", k, engine.ErrNotImplemented)
		}
	}
	if opts["type"] != "none" || !slices.Contains(strings.Split(opts["o"], ","), "bind") || !filepath.IsAbs(opts["device"]) {
		return "", fmt.Errorf("driver options %v: only type=none,o=bind,device=<absolute path> are supported by the native engine: %w", opts, engine.ErrNotImplemented)
	}
	return opts["device"], nil
}

func (s Store) create(v Record) error {
	dir := s.Dir(v.Name)
	if err := os.Mkdir(dir, 0o701); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create volume %q: %w", v.Name, engine.ErrConflict)
		}
		return fmt.Errorf("create volume %q: %w", v.Name, err)
	}
	err := os.Mkdir(filepath.Join(dir, "_data"), 0o755)
	if err == nil {
		err = store.WriteDurableJSON(filepath.Join(dir, "volume.json"), v)
	}
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("create volume %q: %w", v.Name, err)
	}
	return nil
}

// Read reads the volume's record (engine.ErrNotFound).
func (s Store) Read(name string) (Record, error) {
	var v Record
	err := store.ReadJSON(filepath.Join(s.Dir(name), "volume.json"), &v)
	if errors.Is(err, fs.ErrNotExist) {
		return v, fmt.Errorf("volume %q: %w", name, engine.ErrNotFound)
	}
	return v, err
}

// Data is the host directory the volume mounts.
func (s Store) Data(v Record) string {
	if v.Device != "" {
		return v.Device
	}
	return filepath.Join(s.Dir(v.Name), "_data")
}

// List reads every volume's record, skipping leftovers.
func (s Store) List() []Record {
	paths, _ := filepath.Glob(filepath.Join(s.Layout.VolumesDir(), "*", "volume.json"))
	var out []Record
	for _, p := range paths {
		var v Record
		if err := store.ReadJSON(p, &v); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// Remove removes a volume and its content; a volume a container still
// uses is an engine.ErrConflict.
func (s Store) Remove(name string) error {
	if store.CheckName("volume", name) != nil {
		return fmt.Errorf("volume %q: %w", name, engine.ErrNotFound)
	}
	if _, err := s.Read(name); err != nil {
		if _, serr := os.Stat(s.Dir(name)); errors.Is(err, engine.ErrNotFound) && serr == nil {
			// A leftover of an interrupted create: remove it.
			return os.RemoveAll(s.Dir(name))
		}
		return fmt.Errorf("remove volume: %w", err)
	}
	recs, err := s.Layout.All()
	if err != nil {
		return err
	}
	for _, r := range recs {
		for _, u := range r.Volumes {
			if u.Name == name {
				return fmt.Errorf("remove volume %q: in use by container %s: %w", name, r.Name, engine.ErrConflict)
			}
		}
	}
	if err := os.RemoveAll(s.Dir(name)); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	return nil
}

// RemoveAnonymous removes the container's anonymous volumes.
func (s Store) RemoveAnonymous(r *store.Record) {
	for _, u := range r.Volumes {
		if u.Anonymous {
			os.RemoveAll(s.Dir(u.Name))
		}
	}
}
