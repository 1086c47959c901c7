package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/etcfiles"
	"github.com/hoist-dev/hoist/engine/native/oneoff"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/atomicfile"
	"github.com/hoist-dev/hoist/internal/logopts"
	"github.com/hoist-dev/hoist/netplan"
)

// record is a container's config.json: what CreateContainer decided, so
// that start, observe and exec need neither the compose file nor the image.
type record struct {
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
	Networks    []netAttachment `json:"networks,omitempty"`
	// ExtraHosts are compose extra_hosts as "name:ip" ("host-gateway"
	// allowed); DNS the dns, dns_search and dns_opt settings.
	ExtraHosts []string     `json:"extra_hosts,omitempty"`
	DNS        etcfiles.DNS `json:"dns,omitzero"`
	// Ports are the published ports; host port ranges and random ports
	// are chosen at each start (proxy.json records the choice).
	Ports []netplan.Binding `json:"ports,omitempty"`

	// Spec is the runtime spec without the per-start parts (rootfs, etc
	// files, network namespace).
	Layers     []string     `json:"layers"`
	Spec       runtime.Spec `json:"spec"`
	StopSignal string       `json:"stop_signal,omitempty"`
	// Restart is the restart policy (supervisor.ParseRestartPolicy).
	Restart     string                   `json:"restart,omitempty"`
	StopTimeout *time.Duration           `json:"stop_timeout,omitempty"`
	Healthcheck *types.HealthCheckConfig `json:"healthcheck,omitempty"`
	Volumes     []volumeUse              `json:"volumes,omitempty"`
	// Log is the service's json-file/local logging options.
	Log logopts.Options `json:"log,omitzero"`
	// StdinOpen is compose stdin_open (Spec.TTY is tty).
	StdinOpen bool `json:"stdin_open,omitempty"`
}

// netAttachment is one compose network of the container (the JSON keys
// are those of records written before runspec).
type netAttachment struct {
	Name    string
	Aliases []string
	IPv4    string
	IPv6    string
}

// volumeUse is a volume mounted into the container: copied up from the
// image on first use when empty (unless NoCopy).
type volumeUse struct {
	Name      string `json:"name"`
	Target    string `json:"target"`
	Anonymous bool   `json:"anonymous,omitempty"`
	NoCopy    bool   `json:"nocopy,omitempty"`
}

const configFile = oneoff.ConfigFile

func createFileExclusive(path string, data []byte) error {
	return oneoff.CreateFileExclusive(path, data)
}

// writeJSON replaces a run state file (under RunDir): it describes
// processes and mounts that a reboot ends, so it is not synced, which
// saves ~1 ms per file where /run is on disk (atomicfile.Replace).
func writeJSON(path string, v any) error {
	return atomicfile.ReplaceJSON(path, v, 0o600)
}

// writeDurableJSON replaces a file of the store (under Root), which must
// survive a crash.
func writeDurableJSON(path string, v any) error {
	return atomicfile.WriteJSON(path, v, 0o600)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func newID() string { return oneoff.NewID() }

// validName is Docker's rule for container, network and volume names,
// which also keeps them safe as file names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func checkName(kind, name string) error {
	if !validName.MatchString(name) || len(name) > 255 {
		return fmt.Errorf("invalid %s name %q: use letters, digits, '_', '.' and '-'", kind, name)
	}
	return nil
}

func (b *Backend) namePath(name string) string { return b.layout().NamePath(name) }

// reserveName claims name for project/id host-wide.
func (b *Backend) reserveName(name, project, id string) error {
	return nameConflict(name, b.layout().ReserveName(name, project, id))
}

// nameConflict makes oneoff's name conflict the engine's ErrConflict.
func nameConflict(name string, err error) error {
	if errors.Is(err, oneoff.ErrNameInUse) {
		return fmt.Errorf("container name %q is already in use: %w", name, engine.ErrConflict)
	}
	return err
}

// releaseName removes name's index entry if it still points at id.
func (b *Backend) releaseName(name, id string) { b.layout().ReleaseName(name, id) }

// lookup finds a container by name, ID or unique ID prefix and returns its
// project and ID.
func (b *Backend) lookup(ref string) (project, id string, err error) {
	if ref == "" || strings.ContainsAny(ref, "/\x00") || ref == "." || ref == ".." {
		return "", "", fmt.Errorf("container %q: %w", ref, engine.ErrNotFound)
	}
	if data, err := os.ReadFile(b.namePath(ref)); err == nil {
		if p, i, ok := strings.Cut(string(data), "/"); ok {
			if _, err := os.Stat(filepath.Join(b.stateDir(p, i), configFile)); err == nil {
				return p, i, nil
			}
		}
	}
	if !isHex(ref) {
		return "", "", fmt.Errorf("container %q: %w", ref, engine.ErrNotFound)
	}
	matches, _ := filepath.Glob(filepath.Join(b.runDir, "*", "containers", ref+"*", configFile))
	switch len(matches) {
	case 0:
		return "", "", fmt.Errorf("container %q: %w", ref, engine.ErrNotFound)
	case 1:
		dir := filepath.Dir(matches[0])
		return filepath.Base(filepath.Dir(filepath.Dir(dir))), filepath.Base(dir), nil
	}
	for _, m := range matches {
		if filepath.Base(filepath.Dir(m)) == ref {
			dir := filepath.Dir(m)
			return filepath.Base(filepath.Dir(filepath.Dir(dir))), ref, nil
		}
	}
	return "", "", fmt.Errorf("container ID prefix %q is ambiguous: %w", ref, engine.ErrConflict)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// load reads the record of the container ref names.
func (b *Backend) load(ref string) (*record, error) {
	project, id, err := b.lookup(ref)
	if err != nil {
		return nil, err
	}
	return b.loadRecord(project, id)
}

func (b *Backend) loadRecord(project, id string) (*record, error) {
	var r record
	if err := readJSON(filepath.Join(b.stateDir(project, id), configFile), &r); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, engine.ErrNotFound)
		}
		return nil, fmt.Errorf("read container %s: %w", id, err)
	}
	return &r, nil
}

// lockContainer finds the container ref names, takes an exclusive flock
// on its lock file (created with the container), which serialises start,
// stop and remove across hoist processes, and reads its record under the
// lock.
func (b *Backend) lockContainer(ref string) (*record, func(), error) {
	project, id, err := b.lookup(ref)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := b.layout().Lock(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("container %s: %w", ref, engine.ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	r, err := b.loadRecord(project, id)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return r, unlock, nil
}

// status reads the container's runtime state: created when it never
// started.
func (b *Backend) status(r *record) (runtime.State, bool, error) {
	dir := b.stateDir(r.Project, r.ID)
	if _, err := os.Stat(filepath.Join(dir, "state.json")); errors.Is(err, fs.ErrNotExist) {
		return runtime.State{}, false, nil
	}
	st, err := runtime.ReadState(dir)
	if err != nil {
		return st, false, err
	}
	return st, true, nil
}

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

// allRecords reads every container record on the host.
func (b *Backend) allRecords() ([]*record, error) {
	matches, err := filepath.Glob(filepath.Join(b.runDir, "*", "containers", "*", configFile))
	if err != nil {
		return nil, err
	}
	var out []*record
	for _, m := range matches {
		var r record
		if err := readJSON(m, &r); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			return nil, fmt.Errorf("read %s: %w", m, err)
		}
		out = append(out, &r)
	}
	return out, nil
}
