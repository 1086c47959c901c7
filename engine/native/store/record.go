package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/etcfiles"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/logopts"
)

// Record is a container's config.json: what CreateContainer decided, so
// that start, observe and exec need neither the compose file nor the
// image. Its JSON keys are those of every earlier version's records: a
// project left running across an upgrade is still seen and taken down.
type Record struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Project string            `json:"project"`
	Service string            `json:"service"`
	Number  int               `json:"number"`
	OneOff  bool              `json:"oneoff,omitempty"`
	Image   string            `json:"image"`
	ImageID string            `json:"image_id"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`

	// NetworkMode is "none", "host", "container:<name>" or "" (the
	// compose networks in Networks).
	NetworkMode string          `json:"network_mode,omitempty"`
	Networks    []NetAttachment `json:"networks,omitempty"`
	// ExtraHosts are compose extra_hosts as "name=ip" ("host-gateway"
	// allowed); DNS the dns, dns_search and dns_opt settings.
	ExtraHosts []string     `json:"extra_hosts,omitempty"`
	DNS        etcfiles.DNS `json:"dns,omitzero"`
	// Ports are the published ports; host port ranges and random ports
	// are chosen at each start (proxy.json records the choice).
	Ports []Port `json:"ports,omitempty"`

	// Layers are the image's unpacked layers, lowest first; Spec is the
	// runtime spec without the per-start parts (rootfs, etc files,
	// network namespace).
	Layers     []string     `json:"layers"`
	Spec       runtime.Spec `json:"spec"`
	StopSignal string       `json:"stop_signal,omitempty"`
	// Restart is the restart policy (supervisor.ParseRestartPolicy).
	Restart     string         `json:"restart,omitempty"`
	StopTimeout *time.Duration `json:"stop_timeout,omitempty"`
	Healthcheck *Healthcheck   `json:"healthcheck,omitempty"`
	Volumes     []VolumeUse    `json:"volumes,omitempty"`
	// Log is the service's json-file/local logging options.
	Log logopts.Options `json:"log,omitzero"`
	// StdinOpen is compose stdin_open (Spec.TTY is tty).
	StdinOpen bool `json:"stdin_open,omitempty"`
}

// NetAttachment is one compose network of the container (the JSON keys
// are those of records written before runspec).
type NetAttachment struct {
	Name    string
	Aliases []string
	IPv4    string
	IPv6    string
}

// VolumeUse is a volume mounted into the container: copied up from the
// image on first use when empty (unless NoCopy).
type VolumeUse struct {
	Name      string `json:"name"`
	Target    string `json:"target"`
	Anonymous bool   `json:"anonymous,omitempty"`
	NoCopy    bool   `json:"nocopy,omitempty"`
}

// Port is a published port as netplan.Binding writes it to JSON (the
// store stays free of netplan, which needs the compose loader's types).
type Port struct {
	Service string
	// HostIP is where it is published (0.0.0.0 or :: for every address).
	HostIP string
	// HostPort 0 is a random port; HostPortEnd above it makes a range.
	HostPort      uint16
	HostPortEnd   uint16
	ContainerPort uint16
	Protocol      string
}

// Healthcheck is the merged healthcheck (service over image) in the JSON
// of compose's HealthCheckConfig, with durations as Go duration strings.
type Healthcheck struct {
	Test          []string `json:"test,omitempty"`
	Timeout       Duration `json:"timeout"`
	Interval      Duration `json:"interval"`
	Retries       uint64   `json:"retries"`
	StartPeriod   Duration `json:"start_period"`
	StartInterval Duration `json:"start_interval"`
}

// Duration is a time.Duration written as its string ("1m30s").
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	v, err := time.ParseDuration(strings.Trim(string(b), `"`))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Bridged reports whether the container is on compose networks.
func (r *Record) Bridged() bool { return r.NetworkMode == "" && len(r.Networks) > 0 }

// WriteRecord writes r's config.json, making its state dir, and its
// durable copy beside the writable layer (DurableRecordPath), first: the
// run dir is gone after a reboot, and hoist system boot makes the
// project's run state again from the copies.
func (l Layout) WriteRecord(r *Record) error {
	if err := os.MkdirAll(l.LayerDir(r.ID), 0o700); err != nil {
		return err
	}
	if err := WriteDurableJSON(l.DurableRecordPath(r.ID), r); err != nil {
		return err
	}
	return l.writeRunRecord(r)
}

// writeRunRecord writes r's config.json only.
func (l Layout) writeRunRecord(r *Record) error {
	dir := l.StateDir(r.Project, r.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return WriteJSON(filepath.Join(dir, ConfigFile), r)
}

// Load reads the record of container id of project.
func (l Layout) Load(project, id string) (*Record, error) {
	var r Record
	if err := ReadJSON(filepath.Join(l.StateDir(project, id), ConfigFile), &r); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, engine.ErrNotFound)
		}
		return nil, fmt.Errorf("read container %s: %w", id, err)
	}
	return &r, nil
}

// LoadRef reads the record of the container ref names (Lookup).
func (l Layout) LoadRef(ref string) (*Record, error) {
	project, id, err := l.Lookup(ref)
	if err != nil {
		return nil, err
	}
	return l.Load(project, id)
}

// LockRef finds the container ref names, takes its lock (Lock) and reads
// its record under the lock.
func (l Layout) LockRef(ref string) (*Record, func(), error) {
	project, id, err := l.Lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := l.Lock(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("container %s: %w", ref, engine.ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	r, err := l.Load(project, id)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return r, unlock, nil
}

// All reads every container record on the host.
func (l Layout) All() ([]*Record, error) {
	return readRecords(filepath.Join(l.RunDir, "*", "containers", "*", ConfigFile), func(path string, err error) error {
		return fmt.Errorf("read %s: %w", path, err)
	})
}

// ProjectRecords reads the records of project's containers. A record cut
// short is an error that says what to remove: run state is not synced,
// and where /run is not a tmpfs a machine crash can leave one.
func (l Layout) ProjectRecords(project string) ([]*Record, error) {
	return readRecords(filepath.Join(l.StateDir(project, "*"), ConfigFile), func(path string, err error) error {
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			return fmt.Errorf("container record %s is damaged (%v), as a machine crash can leave it where /run is not a tmpfs; remove %s to forget that container", path, err, filepath.Dir(path))
		}
		return err
	})
}

// readRecords reads the records pattern matches, skipping those removed
// meanwhile; failed says what a record that cannot be read is.
func readRecords(pattern string, failed func(path string, err error) error) ([]*Record, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, m := range matches {
		var r Record
		if err := ReadJSON(m, &r); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			return nil, failed(m, err)
		}
		out = append(out, &r)
	}
	return out, nil
}

// HasRecords reports whether project has a container.
func (l Layout) HasRecords(project string) bool {
	m, _ := filepath.Glob(filepath.Join(l.StateDir(project, "*"), ConfigFile))
	return len(m) > 0
}

// Exists reports whether r's record is still there (not removed).
func (l Layout) Exists(r *Record) bool {
	_, err := os.Stat(filepath.Join(l.StateDir(r.Project, r.ID), ConfigFile))
	return err == nil
}

// Status reads the container's runtime state: started is false when it
// never started.
func (l Layout) Status(r *Record) (st runtime.State, started bool, err error) {
	dir := l.StateDir(r.Project, r.ID)
	if _, err := os.Stat(filepath.Join(dir, StateFile)); errors.Is(err, fs.ErrNotExist) {
		return runtime.State{}, false, nil
	}
	st, err = runtime.ReadState(dir)
	if err != nil {
		return st, false, err
	}
	return st, true, nil
}

// Running reports whether the container's init runs, from its state.
func (l Layout) Running(r *Record) (runtime.State, bool) {
	st, started, err := l.Status(r)
	return st, err == nil && started && st.Status == runtime.StatusRunning
}
