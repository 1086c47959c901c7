package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/inroot"
	"github.com/hoist-dev/hoist/runspec"
)

// labelAnonymous marks an anonymous volume with the ID of its container.
const labelAnonymous = "dev.hoist.anonymous"

// volumeRecord is a volume's volume.json.
type volumeRecord struct {
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

func (b *Backend) volumeDir(name string) string { return filepath.Join(b.root, "volumes", name) }

// CreateVolume creates a local volume: a directory under Root/volumes.
func (b *Backend) CreateVolume(ctx context.Context, spec engine.VolumeSpec) error {
	if err := checkName("volume", spec.Name); err != nil {
		return err
	}
	if spec.Driver != "" && spec.Driver != "local" {
		return fmt.Errorf("create volume %q: driver %q: %w by the native engine", spec.Name, spec.Driver, engine.ErrNotImplemented)
	}
	v := volumeRecord{Name: spec.Name, Project: spec.Project, Key: spec.Key, Options: spec.Options, Created: time.Now().UTC()}
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
	return b.createVolume(v)
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

func (b *Backend) createVolume(v volumeRecord) error {
	dir := b.volumeDir(v.Name)
	if err := os.Mkdir(dir, 0o701); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create volume %q: %w", v.Name, engine.ErrConflict)
		}
		return fmt.Errorf("create volume %q: %w", v.Name, err)
	}
	err := os.Mkdir(filepath.Join(dir, "_data"), 0o755)
	if err == nil {
		err = writeDurableJSON(filepath.Join(dir, "volume.json"), v)
	}
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("create volume %q: %w", v.Name, err)
	}
	return nil
}

func (b *Backend) readVolume(name string) (volumeRecord, error) {
	var v volumeRecord
	err := readJSON(filepath.Join(b.volumeDir(name), "volume.json"), &v)
	if errors.Is(err, fs.ErrNotExist) {
		return v, fmt.Errorf("volume %q: %w", name, engine.ErrNotFound)
	}
	return v, err
}

// volumeData is the host directory a volume mounts.
func (b *Backend) volumeData(v volumeRecord) string {
	if v.Device != "" {
		return v.Device
	}
	return filepath.Join(b.volumeDir(v.Name), "_data")
}

// RemoveVolume removes a volume and its content; a volume a container
// still uses is an ErrConflict.
func (b *Backend) RemoveVolume(ctx context.Context, name string) error {
	if checkName("volume", name) != nil {
		return fmt.Errorf("volume %q: %w", name, engine.ErrNotFound)
	}
	if _, err := b.readVolume(name); err != nil {
		if _, serr := os.Stat(b.volumeDir(name)); errors.Is(err, engine.ErrNotFound) && serr == nil {
			// A leftover of an interrupted create: remove it.
			return os.RemoveAll(b.volumeDir(name))
		}
		return fmt.Errorf("remove volume: %w", err)
	}
	recs, err := b.allRecords()
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
	if err := os.RemoveAll(b.volumeDir(name)); err != nil {
		return fmt.Errorf("remove volume %q: %w", name, err)
	}
	return nil
}

// prepareVolumes turns the service's volumes (and the image's VOLUMEs not
// covered by them) into mounts: named volumes are created when missing,
// anonymous ones are created for the container, bind sources are checked
// or created.
func (b *Backend) prepareVolumes(ctx context.Context, r *record, spec engine.ContainerSpec) error {
	targets := map[string]bool{}
	for _, m := range r.Spec.Mounts {
		targets[path.Clean(m.Target)] = true
	}
	var vols []runspec.Mount
	for _, v := range spec.Config.Mounts {
		if v.Type == runspec.MountTmpfs && v.Tmpfs != nil && v.Tmpfs.FromKey {
			continue // in r.Spec.Mounts already (buildSpec)
		}
		vols = append(vols, v)
		targets[path.Clean(v.Target)] = true
	}
	var imgVols []string
	if img, err := b.store.Resolve(ctx, r.ImageID); err == nil {
		for t := range img.Config.Config.Volumes {
			if !targets[path.Clean(t)] {
				imgVols = append(imgVols, t)
			}
		}
	}
	slices.Sort(imgVols)
	for _, t := range imgVols {
		vols = append(vols, runspec.Mount{Type: runspec.MountVolume, Target: t})
	}

	for _, v := range vols {
		if !path.IsAbs(v.Target) {
			return fmt.Errorf("volume target %q: not an absolute path", v.Target)
		}
		switch v.Type {
		case runspec.MountBind:
			src := v.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(spec.ProjectDir, src)
			}
			if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
				if !v.CreateHostPath {
					return fmt.Errorf("bind source %s does not exist (create_host_path is false)", src)
				}
				if err := os.MkdirAll(src, 0o755); err != nil {
					return fmt.Errorf("create bind source: %w", err)
				}
			} else if err != nil {
				return fmt.Errorf("bind source: %w", err)
			}
			r.Spec.Mounts = append(r.Spec.Mounts, runtime.Mount{Type: runtime.MountBind, Source: src, Target: v.Target, ReadOnly: v.ReadOnly})
		case runspec.MountVolume:
			use := volumeUse{Name: v.Source, Target: v.Target, NoCopy: v.NoCopy}
			var vr volumeRecord
			var err error
			if v.Source == "" {
				use.Name, use.Anonymous = newID(), true
				vr = volumeRecord{Name: use.Name, Labels: map[string]string{labelAnonymous: r.ID}, Created: time.Now().UTC()}
				err = b.createVolume(vr)
			} else {
				if err = checkName("volume", v.Source); err != nil {
					return err
				}
				vr, err = b.readVolume(v.Source)
				if errors.Is(err, engine.ErrNotFound) {
					// Docker creates a missing named volume on use.
					vr = volumeRecord{Name: v.Source, Labels: map[string]string{}, Created: time.Now().UTC()}
					if err = b.createVolume(vr); errors.Is(err, engine.ErrConflict) {
						vr, err = b.readVolume(v.Source)
					}
				}
			}
			if err != nil {
				return err
			}
			r.Volumes = append(r.Volumes, use)
			m := runtime.Mount{Type: runtime.MountVolume, Source: b.volumeData(vr), Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Subpath != "" {
				// Resolved inside the volume, now for a clear error and
				// again at each start (the runtime), where it counts.
				m.Subpath = path.Clean("/" + v.Subpath)
				if err := checkSubpath(m.Source, m.Subpath); err != nil {
					return fmt.Errorf("volume %s subpath %s: %w", vr.Name, v.Subpath, err)
				}
			}
			r.Spec.Mounts = append(r.Spec.Mounts, m)
		case runspec.MountTmpfs:
			m := runtime.Mount{Type: runtime.MountTmpfs, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Tmpfs != nil {
				m.TmpfsSize, m.TmpfsMode, m.TmpfsExec = v.Tmpfs.SizeBytes, v.Tmpfs.Mode, v.Tmpfs.Exec
			}
			r.Spec.Mounts = append(r.Spec.Mounts, m)
		default:
			return fmt.Errorf("mount type %q: %w by the native engine", v.Type, engine.ErrNotImplemented)
		}
	}
	return nil
}

// removeAnonymous removes the container's anonymous volumes.
func (b *Backend) removeAnonymous(r *record) {
	for _, u := range r.Volumes {
		if u.Anonymous {
			os.RemoveAll(b.volumeDir(u.Name))
		}
	}
}

// copyUp copies the image's content at each volume target into volumes
// that are still empty, as Docker does on first use. rootfs is the
// mounted container root.
func (b *Backend) copyUp(r *record, rootfs string) error {
	fills, err := b.volumeFills(r)
	if err != nil {
		return err
	}
	for _, f := range fills {
		if err := copyFromRootfs(rootfs, f.use.Target, f.dst); err != nil {
			return fmt.Errorf("copy %s from the image into volume %s: %w", f.use.Target, f.use.Name, err)
		}
	}
	return nil
}

// volumeFill is a volume that copyUp fills from the image at dst.
type volumeFill struct {
	use volumeUse
	dst string
}

// volumeFills lists the volumes of r that are filled from the image on
// this start: the empty ones, unless nocopy.
func (b *Backend) volumeFills(r *record) ([]volumeFill, error) {
	var fills []volumeFill
	for _, u := range r.Volumes {
		if u.NoCopy {
			continue
		}
		vr, err := b.readVolume(u.Name)
		if err != nil {
			return nil, err
		}
		dst := b.volumeData(vr)
		if empty, err := isEmptyDir(dst); err != nil || !empty {
			continue
		}
		fills = append(fills, volumeFill{use: u, dst: dst})
	}
	return fills, nil
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// copyFromRootfs copies the directory target of the rootfs to dst. The
// image (and an earlier run of the container) decides what is there, so
// target is resolved inside the rootfs and the copy never follows a
// symlink: links are copied as links. dst, a volume other containers may
// be using, is written with no symlink followed either (internal/inroot).
// Ownership and modes are kept.
func copyFromRootfs(rootfs, target, dst string) error {
	root, err := inroot.Open(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	src, err := root.OpenDir(target, inroot.InRoot)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing to copy
	}
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := inroot.Open(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	top, err := out.OpenFile(".", inroot.NoSymlinks, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	err = setOwnerMode(int(top.Fd()), &st)
	top.Close()
	if err != nil {
		return err
	}
	c := &volumeCopier{out: out}
	defer c.close()
	return src.Walk(c.entry)
}

// volumeCopier writes the entries of a walk below out, keeping the
// directory of the last one open, since a walk lists a directory's
// entries one after another.
type volumeCopier struct {
	out     *inroot.Root
	dirPath string
	dir     *inroot.Root
}

func (c *volumeCopier) close() { c.dir.Close() }

func (c *volumeCopier) entry(e *inroot.Entry) error {
	if p := path.Dir(e.Path); c.dir == nil || p != c.dirPath {
		d, err := c.out.OpenDir(p, inroot.NoSymlinks)
		if err != nil {
			return err
		}
		c.dir.Close()
		c.dir, c.dirPath = d, p
	}
	dir := c.dir.FD()
	switch e.Type() {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dir, e.Name, 0o700); err != nil {
			return &os.PathError{Op: "mkdir", Path: e.Path, Err: err}
		}
		fd, err := unix.Openat(dir, e.Name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: e.Path, Err: err}
		}
		defer unix.Close(fd)
		return setOwnerMode(fd, &e.Stat)
	case unix.S_IFLNK:
		link, err := e.Readlink()
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(link, dir, e.Name); err != nil {
			return &os.PathError{Op: "symlink", Path: e.Path, Err: err}
		}
		return unix.Fchownat(dir, e.Name, int(e.Stat.Uid), int(e.Stat.Gid), unix.AT_SYMLINK_NOFOLLOW)
	case unix.S_IFREG:
		in, err := e.Open()
		if err != nil {
			return err
		}
		defer in.Close()
		fd, err := unix.Openat(dir, e.Name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "create", Path: e.Path, Err: err}
		}
		f := os.NewFile(uintptr(fd), e.Path)
		_, err = io.Copy(f, in)
		if err == nil {
			err = setOwnerMode(fd, &e.Stat)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	default:
		return nil // devices, fifos and sockets are not copied
	}
}

// setOwnerMode gives the open file fd st's owner, then its mode (chown
// clears setuid bits).
func setOwnerMode(fd int, st *unix.Stat_t) error {
	if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Fchmod(fd, st.Mode&0o7777)
}

// checkSubpath reports whether sub names something inside dir, resolved
// with dir as the root.
func checkSubpath(dir, sub string) error {
	r, err := inroot.Open(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = r.Lstat(sub, inroot.InRoot)
	return err
}
