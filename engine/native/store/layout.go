package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/atomicfile"
)

// DefaultRunDir is the native engine's run dir unless HOIST_RUN_DIR says
// otherwise: volatile state, gone at reboot with what it describes.
const DefaultRunDir = "/run/hoist"

// Files in a container's state dir.
const (
	ConfigFile = "config.json"
	StateFile  = "state.json"
	// DurableRecordFile is the record's copy under Root (DurableRecordPath).
	DurableRecordFile = "record.json"
	// StoppedFile marks a container the user stopped (StoppedPath).
	StoppedFile = "stopped"
	HealthFile  = "health.json"
	ProxyFile   = "proxy.json"
)

// Layout is where the native engine keeps its containers: writable layers
// and lock files under Root, records, states and names under RunDir.
type Layout struct {
	Root   string
	RunDir string
}

// Init makes the store's directories.
func (l Layout) Init() error {
	for _, d := range []string{
		filepath.Join(l.Root, "containers"), l.VolumesDir(),
		filepath.Join(l.RunDir, "names"), filepath.Join(l.RunDir, "networks"), l.durableNetworksDir(),
	} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	return nil
}

// LayerDir holds the container's writable layer, mount point, etc files
// and lock.
func (l Layout) LayerDir(id string) string { return filepath.Join(l.Root, "containers", id) }

// DurableRecordPath is the copy of the container's record kept with its
// writable layer, which survives a reboot (hoist system boot).
func (l Layout) DurableRecordPath(id string) string {
	return filepath.Join(l.LayerDir(id), DurableRecordFile)
}

// StoppedPath marks a container the user stopped (hoist stop), which
// hoist system boot leaves stopped, as Docker's unless-stopped does.
func (l Layout) StoppedPath(id string) string { return filepath.Join(l.LayerDir(id), StoppedFile) }

// SetUserStopped marks (or unmarks) the container as stopped by the
// user: StopContainer marks it, a start unmarks it.
func (l Layout) SetUserStopped(id string, stopped bool) error {
	p := l.StoppedPath(id)
	if !stopped {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return atomicfile.WriteFile(p, nil, 0o600)
}

// UserStopped reports whether the user stopped the container.
func (l Layout) UserStopped(id string) bool {
	_, err := os.Stat(l.StoppedPath(id))
	return err == nil
}

// Rootfs is the container's mount point.
func (l Layout) Rootfs(id string) string { return filepath.Join(l.LayerDir(id), "rootfs") }

// ProjectDir is the project's run dir, also its supervisor's.
func (l Layout) ProjectDir(project string) string { return filepath.Join(l.RunDir, project) }

// StateDir holds the container's record and what runs it leave.
func (l Layout) StateDir(project, id string) string {
	return filepath.Join(l.RunDir, project, "containers", id)
}

// NamePath is the name's entry in the host-wide index.
func (l Layout) NamePath(name string) string { return filepath.Join(l.RunDir, "names", name) }

// VolumesDir holds the volumes.
func (l Layout) VolumesDir() string { return filepath.Join(l.Root, "volumes") }

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
	// The durable copy first: hoist system boot must never bring back a
	// container whose removal was under way.
	if err := os.Remove(l.DurableRecordPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
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

// Idle reports whether project has nothing in the run dir but containers'
// records: no supervisor and no network state. Removing its last
// container then leaves the native engine's teardown nothing to do but
// removing the empty dir.
func (l Layout) Idle(project string) bool {
	ents, err := os.ReadDir(l.ProjectDir(project))
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() != "containers" {
			return false
		}
	}
	return true
}

// LockProject serialises `up` of one project across hoist processes: an
// flock on <RunDir>/<project>/up.lock, made with the project's dir.
func (l Layout) LockProject(ctx context.Context, project string) (unlock func(), err error) {
	unlock, err = LockFile(ctx, filepath.Join(l.ProjectDir(project), "up.lock"))
	if err != nil {
		return nil, fmt.Errorf("lock project %s: %w", project, err)
	}
	return unlock, nil
}

// LockFile takes an exclusive flock on path (made 0600, in a dir made
// 0700, if need be), waiting until ctx ends; unlock releases it. The
// project's teardown removes the dir such a lock is in: a lock taken on
// a file that is gone meanwhile is taken again on the new one, so two
// holders never each hold a file of their own.
func LockFile(ctx context.Context, path string) (unlock func(), err error) {
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		f, err := lockOnce(path)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// lockOnce tries once to lock path: EWOULDBLOCK while another holds it,
// fs.ErrNotExist when the file it locked was removed meanwhile.
func lockOnce(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	held, err := f.Stat()
	if err == nil {
		var now os.FileInfo
		if now, err = os.Stat(path); err == nil && !os.SameFile(held, now) {
			err = fs.ErrNotExist
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
