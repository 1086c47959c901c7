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

	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
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
	var vols []types.ServiceVolumeConfig
	for _, v := range spec.Service.Volumes {
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
		vols = append(vols, types.ServiceVolumeConfig{Type: types.VolumeTypeVolume, Target: t})
	}

	for _, v := range vols {
		if !path.IsAbs(v.Target) {
			return fmt.Errorf("volume target %q: not an absolute path", v.Target)
		}
		switch v.Type {
		case types.VolumeTypeBind:
			src := v.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(spec.ProjectDir, src)
			}
			if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
				if v.Bind != nil && !bool(v.Bind.CreateHostPath) {
					return fmt.Errorf("bind source %s does not exist (create_host_path is false)", src)
				}
				if err := os.MkdirAll(src, 0o755); err != nil {
					return fmt.Errorf("create bind source: %w", err)
				}
			} else if err != nil {
				return fmt.Errorf("bind source: %w", err)
			}
			r.Spec.Mounts = append(r.Spec.Mounts, runtime.Mount{Type: runtime.MountBind, Source: src, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeVolume:
			use := volumeUse{Name: v.Source, Target: v.Target, NoCopy: v.Volume != nil && v.Volume.NoCopy}
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
			src := b.volumeData(vr)
			if v.Volume != nil && v.Volume.Subpath != "" {
				sub := path.Clean("/" + v.Volume.Subpath)
				src = filepath.Join(src, sub)
				if _, err := os.Stat(src); err != nil {
					return fmt.Errorf("volume %s subpath: %w", vr.Name, err)
				}
			}
			r.Spec.Mounts = append(r.Spec.Mounts, runtime.Mount{Type: runtime.MountVolume, Source: src, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeTmpfs:
			m := runtime.Mount{Type: runtime.MountTmpfs, Target: v.Target, ReadOnly: v.ReadOnly}
			if v.Tmpfs != nil {
				m.TmpfsSize, m.TmpfsMode = int64(v.Tmpfs.Size), v.Tmpfs.Mode
			}
			r.Spec.Mounts = append(r.Spec.Mounts, m)
		default:
			return fmt.Errorf("volume type %q: %w by the native engine", v.Type, engine.ErrNotImplemented)
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

// copyFromRootfs copies the directory target of the rootfs (resolved
// inside it, so image symlinks cannot point at the host) to dst. Symlinks
// inside are copied as links, never followed; ownership and modes are
// kept.
func copyFromRootfs(rootfs, target, dst string) error {
	root, err := os.Open(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	fd, err := unix.Openat2(int(root.Fd()), strings.TrimPrefix(path.Clean(target), "/"), &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing to copy
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	src := fmt.Sprintf("/proc/self/fd/%d/.", fd)
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := info.Sys().(*unix.Stat_t)
		switch mode := info.Mode(); {
		case rel == ".":
			if err := os.Chmod(dst, mode.Perm()|mode&(fs.ModeSticky|fs.ModeSetgid|fs.ModeSetuid)); err != nil {
				return err
			}
		case mode.IsDir():
			if err := os.Mkdir(out, 0o700); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, out); err != nil {
				return err
			}
		case mode.IsRegular():
			if err := copyFile(p, out); err != nil {
				return err
			}
		default:
			return nil // devices, fifos and sockets are not copied
		}
		if st != nil {
			if err := os.Lchown(out, int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
		}
		if rel != "." && info.Mode()&fs.ModeSymlink == 0 {
			return unix.Chmod(out, uint32(info.Mode().Perm())|modeBits(info.Mode()))
		}
		return nil
	})
}

func modeBits(m fs.FileMode) uint32 {
	var out uint32
	if m&fs.ModeSetuid != 0 {
		out |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		out |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		out |= unix.S_ISVTX
	}
	return out
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
