package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hoist-dev/hoist/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// netState is a network's <project dir>/networks/<name>.json. It is
// written before the bridge is created, so a crash leaves a record that
// Teardown can follow.
type netState struct {
	Name     string       `json:"name"`
	Project  string       `json:"project"`
	Bridge   string       `json:"bridge"`
	Subnet   netip.Prefix `json:"subnet"`
	Gateway  netip.Addr   `json:"gateway"`
	Internal bool         `json:"internal,omitempty"`
	// IPs are the reserved addresses, by container name. A reservation
	// outlives Detach, so a restarted or recreated container gets its
	// address back; Release or RemoveNetwork drop it.
	IPs map[string]netip.Addr `json:"ips,omitempty"`
	// Forward is the iptables chain that holds the network's accept rules
	// ("" when none were needed), recorded before they are inserted; nil
	// in records of an older hoist, whose removal searches both chains.
	Forward *string `json:"forward,omitempty"`
}

// ctrState is a container's <project dir>/containers/<name>.json, written
// before its namespace and veths are created (an intent record).
type ctrState struct {
	Container  string      `json:"container"`
	Project    string      `json:"project"`
	Netns      string      `json:"netns"`
	Hostname   string      `json:"hostname,omitempty"`
	Links      []linkState `json:"links"`
	ExtraHosts []hostEntry `json:"extra_hosts,omitempty"`
}

// linkState is one network interface of a container.
type linkState struct {
	Network  string     `json:"network"`
	HostVeth string     `json:"host_veth"`
	IfName   string     `json:"ifname"`
	IP       netip.Addr `json:"ip"`
	Aliases  []string   `json:"aliases,omitempty"`
}

// hostEntry is one resolved extra_hosts line.
type hostEntry struct {
	Name string     `json:"name"`
	IP   netip.Addr `json:"ip"`
}

// allocFile is the host-wide subnet allocation file, shared by every
// project so that two never pick the same subnet.
type allocFile struct {
	Networks map[string]allocEntry `json:"networks"` // by network name
}

type allocEntry struct {
	Project string       `json:"project"`
	Subnet  netip.Prefix `json:"subnet"`
	// State is the network's state file. An entry whose state file is gone
	// (the run directory was wiped by a reboot) is stale and dropped.
	State string `json:"state"`
}

// writeJSON writes v to path atomically (internal/atomicfile), creating
// its directory. Network run state (under the run directory) describes
// bridges, veths and namespaces that a reboot removes, so it is not
// synced; the subnet allocation file, kept with the store, is.
func writeJSON(path string, v any) error {
	return writeJSONSync(path, v, false)
}

func writeDurableJSON(path string, v any) error {
	return writeJSONSync(path, v, true)
}

func writeJSONSync(path string, v any, durable bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if durable {
		return atomicfile.WriteJSON(path, v, 0o600)
	}
	return atomicfile.ReplaceJSON(path, v, 0o600)
}

// readJSON reads path into v; a missing file is an error wrapping
// fs.ErrNotExist.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// readAll reads every *.json file of dir, sorted by name; a missing dir
// has none.
func readAll[T any](dir string) ([]T, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []T
	var errs []error
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		var v T
		if err := readJSON(filepath.Join(dir, e.Name()), &v); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		out = append(out, v)
	}
	return out, errors.Join(errs...)
}

// fileLock is an exclusive flock(2) on a lock file; it is released when
// the process dies, so a crashed holder never wedges the next one.
type fileLock struct{ f *os.File }

func lockFile(path string) (*fileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &fileLock{f: f}, nil
}

func (l *fileLock) unlock() { l.f.Close() }

// sortedKeys is the sorted keys of m.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Carried is one of a project's networks as a rootless project's carrier
// (engine/native/rootnet) needs it: outbound traffic and DNS leave from
// the networks that are not internal.
type Carried struct {
	Name     string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Internal bool
}

// ProjectNetworks lists the networks recorded in a project's run dir
// (<run dir>/<project>), by name.
func ProjectNetworks(projectDir string) ([]Carried, error) {
	nets, err := readAll[netState](filepath.Join(projectDir, "net", "networks"))
	if err != nil {
		return nil, err
	}
	out := make([]Carried, 0, len(nets))
	for _, n := range nets {
		out = append(out, Carried{Name: n.Name, Subnet: n.Subnet, Gateway: n.Gateway, Internal: n.Internal})
	}
	slices.SortFunc(out, func(a, b Carried) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
