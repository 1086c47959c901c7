// Package oneoff runs the native engine's simple one-off containers
// (hoist run --rm): those that need no compose network, published port,
// volume or file, so nothing but the container runtime and the engine's
// state layout. The native engine runs them through Run; hoist run's fast
// path (cmd/hoist/fastrun) runs a recorded one again through Replay,
// without loading the compose file.
//
// It depends on the runtime and the standard library only, on purpose: the
// fast path links it, and is only fast while it links none of the compose
// loader, the registry client or the builder (see cmd/hoist/fastrun).
package oneoff

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Layout is where the native engine keeps its containers: writable layers
// and lock files under Root, records, states and names under RunDir.
type Layout struct {
	Root   string
	RunDir string
}

// DefaultRunDir is the native engine's run dir unless HOIST_RUN_DIR says
// otherwise: volatile state, gone at reboot with what it describes.
const DefaultRunDir = "/run/hoist"

// ConfigFile is a container's record in its state dir.
const ConfigFile = "config.json"

func (l Layout) LayerDir(id string) string { return filepath.Join(l.Root, "containers", id) }

func (l Layout) ProjectDir(project string) string { return filepath.Join(l.RunDir, project) }

func (l Layout) StateDir(project, id string) string {
	return filepath.Join(l.RunDir, project, "containers", id)
}

func (l Layout) NamePath(name string) string { return filepath.Join(l.RunDir, "names", name) }

// ErrNameInUse is ReserveName's answer for a name another container holds.
var ErrNameInUse = errors.New("conflict")

// ReserveName claims name for project/id host-wide.
func (l Layout) ReserveName(name, project, id string) error {
	err := CreateFileExclusive(l.NamePath(name), []byte(project+"/"+id))
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("container name %q is already in use: %w", name, ErrNameInUse)
	}
	if err != nil {
		return fmt.Errorf("reserve container name %q: %w", name, err)
	}
	return nil
}

// ReleaseName removes name's entry if it still points at id.
func (l Layout) ReleaseName(name, id string) {
	data, err := os.ReadFile(l.NamePath(name))
	if err == nil && strings.HasSuffix(string(data), "/"+id) {
		os.Remove(l.NamePath(name))
	}
}

// CreateLayer makes the container's layer dir: the overlay's upper, work
// and mount point, the etc files' dir and the lock file.
func (l Layout) CreateLayer(id string) error {
	dir := l.LayerDir(id)
	for _, d := range []string{"upper", "work", "rootfs", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	// The overlay's root directory takes its mode from the upper dir: 0700
	// would lock every non-root user out of "/" in the container.
	if err := os.Chmod(filepath.Join(dir, "upper"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "lock"), nil, 0o600)
}

// RemoveLayerContent removes the container's writable layer, mount point
// and /etc files; the layer dir, with the lock, stays for RemoveRecord.
func (l Layout) RemoveLayerContent(id string) error {
	for _, d := range []string{"rootfs", "upper", "work", "etc"} {
		if err := os.RemoveAll(filepath.Join(l.LayerDir(id), d)); err != nil {
			return err
		}
	}
	return nil
}

// RemoveRecord removes the container's record, then its name and layer
// dir. The record goes first: until then a retry finds the container.
func (l Layout) RemoveRecord(project, id, name string) error {
	if err := os.RemoveAll(l.StateDir(project, id)); err != nil {
		return err
	}
	l.ReleaseName(name, id)
	_ = os.RemoveAll(l.LayerDir(id))
	return nil
}

// Lock takes an exclusive flock on the container's lock file, which
// serialises start, stop and remove across hoist processes. It fails with
// fs.ErrNotExist once the container is removed.
func (l Layout) Lock(id string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(l.LayerDir(id), "lock"), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// CreateFileExclusive writes data to path atomically and fails with
// fs.ErrExist when path exists: the complete temporary file is linked
// into place, and link(2) never replaces. Its callers write run state
// (names, networks), so nothing is synced (see atomicfile.Replace).
func CreateFileExclusive(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return err
	}
	return nil
}

// NewID is a container ID: 64 random hex digits, as Docker's.
func NewID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
