package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// Network is a network's <RunDir>/networks/<name>.json: what CreateNetwork
// was asked for, host-wide (the bridge itself is engine/native/network's).
type Network struct {
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

func (l Layout) networkPath(name string) string {
	return filepath.Join(l.RunDir, "networks", name+".json")
}

// durableNetworksDir holds the copies of the network records that survive
// a reboot, for hoist system boot.
func (l Layout) durableNetworksDir() string { return filepath.Join(l.Root, "networks") }

func (l Layout) durableNetworkPath(name string) string {
	return filepath.Join(l.durableNetworksDir(), name+".json")
}

// CreateNetwork records n; a recorded network of its name is an
// engine.ErrConflict.
func (l Layout) CreateNetwork(n Network) error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	err = CreateFileExclusive(l.networkPath(n.Name), data)
	if errors.Is(err, fs.ErrExist) {
		return engine.ErrConflict
	}
	if err != nil {
		return err
	}
	if err := WriteDurableJSON(l.durableNetworkPath(n.Name), n); err != nil {
		os.Remove(l.networkPath(n.Name))
		return err
	}
	return nil
}

// Network reads the record of the network name (engine.ErrNotFound).
func (l Layout) Network(name string) (Network, error) {
	var n Network
	err := ReadJSON(l.networkPath(name), &n)
	if errors.Is(err, fs.ErrNotExist) {
		return n, fmt.Errorf("network %q: %w", name, engine.ErrNotFound)
	}
	return n, err
}

// RemoveNetwork forgets the network name (engine.ErrNotFound).
func (l Layout) RemoveNetwork(name string) error {
	if err := os.Remove(l.durableNetworkPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err := os.Remove(l.networkPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return engine.ErrNotFound
	}
	return err
}

// Networks reads the recorded networks, skipping any removed meanwhile
// or left partial.
func (l Layout) Networks() []Network {
	paths, _ := filepath.Glob(filepath.Join(l.RunDir, "networks", "*.json"))
	var out []Network
	for _, p := range paths {
		var n Network
		if err := ReadJSON(p, &n); err == nil {
			out = append(out, n)
		}
	}
	return out
}
