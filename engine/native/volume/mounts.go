package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/inroot"
	"github.com/hoist-dev/hoist/runspec"
)

// Prepare turns a service's mounts (and the image's VOLUMEs not covered
// by them, imageVolumes) into r's mounts: named volumes are created when
// missing, anonymous ones are created for the container, bind sources
// (relative to projectDir) are checked or created.
func (s Store) Prepare(r *store.Record, mounts []runspec.Mount, imageVolumes []string, projectDir string) error {
	targets := map[string]bool{}
	for _, m := range r.Spec.Mounts {
		targets[path.Clean(m.Target)] = true
	}
	var vols []runspec.Mount
	for _, v := range mounts {
		if v.Type == runspec.MountTmpfs && v.Tmpfs != nil && v.Tmpfs.FromKey {
			continue // in r.Spec.Mounts already
		}
		vols = append(vols, v)
		targets[path.Clean(v.Target)] = true
	}
	var imgVols []string
	for _, t := range imageVolumes {
		if !targets[path.Clean(t)] {
			imgVols = append(imgVols, t)
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
				src = filepath.Join(projectDir, src)
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
			use, vr, err := s.use(r, v)
			if err != nil {
				return err
			}
			r.Volumes = append(r.Volumes, use)
			m := runtime.Mount{Type: runtime.MountVolume, Source: s.Data(vr), Target: v.Target, ReadOnly: v.ReadOnly}
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

// use is the volume v mounts into r: an anonymous one made for it, or a
// named one, created if missing (as Docker does on use).
func (s Store) use(r *store.Record, v runspec.Mount) (store.VolumeUse, Record, error) {
	use := store.VolumeUse{Name: v.Source, Target: v.Target, NoCopy: v.NoCopy}
	if v.Source == "" {
		use.Name, use.Anonymous = store.NewID(), true
		vr := Record{Name: use.Name, Labels: map[string]string{LabelAnonymous: r.ID}, Created: time.Now().UTC()}
		return use, vr, s.create(vr)
	}
	if err := store.CheckName("volume", v.Source); err != nil {
		return use, Record{}, err
	}
	vr, err := s.Read(v.Source)
	if errors.Is(err, engine.ErrNotFound) {
		vr = Record{Name: v.Source, Labels: map[string]string{}, Created: time.Now().UTC()}
		if err = s.create(vr); errors.Is(err, engine.ErrConflict) {
			vr, err = s.Read(v.Source)
		}
	}
	return use, vr, err
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
