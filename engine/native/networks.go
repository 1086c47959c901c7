package native

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// networkRecord is a network's <RunDir>/networks/<name>.json.
type networkRecord struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Project  string            `json:"project,omitempty"`
	Key      string            `json:"key,omitempty"`
	Driver   string            `json:"driver,omitempty"`
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Subnets  []string          `json:"subnets,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	Created  time.Time         `json:"created"`
}

func (b *Backend) networkPath(name string) string {
	return filepath.Join(b.runDir, "networks", name+".json")
}

// CreateNetwork records the network. Part 1 of the native engine has no
// bridges: containers on it get a network namespace with lo only.
func (b *Backend) CreateNetwork(ctx context.Context, spec engine.NetworkSpec) error {
	if err := checkName("network", spec.Name); err != nil {
		return err
	}
	n := networkRecord{ID: newID(), Name: spec.Name, Project: spec.Project, Key: spec.Key, Driver: spec.Driver,
		Internal: spec.Internal, Subnets: spec.Subnets, Options: spec.Options, Created: time.Now().UTC()}
	n.Labels = map[string]string{}
	if spec.Project != "" {
		n.Labels[engine.LabelProject] = spec.Project
	}
	if spec.Key != "" {
		n.Labels[engine.LabelNetwork] = spec.Key
	}
	for k, v := range spec.Labels {
		n.Labels[k] = v
	}
	data, err := jsonIndent(n)
	if err != nil {
		return err
	}
	err = createFileExclusive(b.networkPath(spec.Name), data)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create network %q: %w", spec.Name, engine.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	return nil
}

// RemoveNetwork removes the network's record; a network a container is
// attached to is an ErrConflict.
func (b *Backend) RemoveNetwork(ctx context.Context, name string) error {
	if checkName("network", name) != nil {
		return fmt.Errorf("network %q: %w", name, engine.ErrNotFound)
	}
	if _, err := os.Stat(b.networkPath(name)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove network %q: %w", name, engine.ErrNotFound)
	}
	recs, err := b.allRecords()
	if err != nil {
		return err
	}
	for _, r := range recs {
		for _, a := range r.Networks {
			if a.Name == name {
				return fmt.Errorf("remove network %q: container %s is attached: %w", name, r.Name, engine.ErrConflict)
			}
		}
	}
	if err := os.Remove(b.networkPath(name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove network %q: %w", name, engine.ErrNotFound)
		}
		return fmt.Errorf("remove network %q: %w", name, err)
	}
	return nil
}

func (b *Backend) readNetwork(name string) (networkRecord, error) {
	var n networkRecord
	err := readJSON(b.networkPath(name), &n)
	if errors.Is(err, fs.ErrNotExist) {
		return n, fmt.Errorf("network %q: %w", name, engine.ErrNotFound)
	}
	return n, err
}

// networker connects containers to their networks. Part 1's is
// loopbackNetworker; part 2 plugs bridges, veths, addresses and DNS in
// here, preparing a named namespace in attach that the container joins.
type networker interface {
	// check validates r's network settings at create.
	check(r *record) error
	// attach prepares the network before the container starts and says
	// which namespace it uses.
	attach(ctx context.Context, r *record) (runtime.Network, error)
	// detach releases what attach prepared, after the container exited.
	// It must be idempotent.
	detach(ctx context.Context, r *record) error
	// unsupported lists, for the Unsupported warning, what this networker
	// does not apply of the settings in r.
	unsupported(networks int) []string
}

// loopbackNetworker is part 1: none and compose networks get a new
// namespace with lo only, host the host's, container:<x> x's.
type loopbackNetworker struct{ b *Backend }

func (l loopbackNetworker) check(r *record) error {
	for _, a := range r.Networks {
		if _, err := l.b.readNetwork(a.Name); err != nil {
			return err
		}
	}
	return nil
}

func (l loopbackNetworker) attach(ctx context.Context, r *record) (runtime.Network, error) {
	switch {
	case r.NetworkMode == "host":
		return runtime.Network{Mode: runtime.NetworkHost}, nil
	case strings.HasPrefix(r.NetworkMode, "container:"):
		ref := strings.TrimPrefix(r.NetworkMode, "container:")
		other, err := l.b.load(ref)
		if err != nil {
			return runtime.Network{}, fmt.Errorf("network_mode %s: %w", r.NetworkMode, err)
		}
		st, started, err := l.b.status(other)
		if err != nil || !started || st.Status != runtime.StatusRunning {
			return runtime.Network{}, fmt.Errorf("network_mode %s: container is not running: %w", r.NetworkMode, engine.ErrConflict)
		}
		return runtime.Network{Mode: runtime.NetworkJoin, Path: fmt.Sprintf("/proc/%d/ns/net", st.Pid)}, nil
	}
	return runtime.Network{Mode: runtime.NetworkNew}, nil
}

func (l loopbackNetworker) detach(ctx context.Context, r *record) error { return nil }

func (l loopbackNetworker) unsupported(networks int) []string {
	if networks == 0 {
		return nil
	}
	return []string{"networks (native part 1: containers get a network namespace with loopback only, no bridge or DNS yet)"}
}
