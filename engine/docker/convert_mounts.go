package docker

import (
	"fmt"
	"os"
	"strings"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/versions"

	"github.com/hoist-dev/hoist/runspec"
)

// mounts converts mounts to the Mounts API (tmpfs: entries go to the
// HostConfig's Tmpfs map, tmpfsMap). Two binds go to the legacy Binds
// syntax instead: one that creates its host path on a daemon older than
// API 1.42 (no CreateMountpoint there), and one with an SELinux relabel
// option, which the Mounts API cannot express.
func mounts(ms []runspec.Mount, apiVersion string) ([]mount.Mount, []string, error) {
	var out []mount.Mount
	var binds []string
	for _, v := range ms {
		m := mount.Mount{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case runspec.MountBind:
			m.Type = mount.TypeBind
			if v.SELinux != "" || (v.CreateHostPath && versions.LessThan(apiVersion, "1.42")) {
				binds = append(binds, legacyBind(v))
				continue
			}
			opts := &mount.BindOptions{CreateMountpoint: v.CreateHostPath, Propagation: mount.Propagation(v.Propagation)}
			switch v.Recursive {
			case "disabled":
				opts.NonRecursive = true
			case "writable":
				opts.ReadOnlyNonRecursive = true
			case "readonly":
				opts.ReadOnlyForceRecursive = true
			}
			if *opts != (mount.BindOptions{}) {
				m.BindOptions = opts
			}
		case runspec.MountVolume:
			m.Type = mount.TypeVolume
			if v.NoCopy || v.Subpath != "" || len(v.VolumeLabels) > 0 {
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.NoCopy, Subpath: v.Subpath, Labels: v.VolumeLabels}
			}
		case runspec.MountTmpfs:
			if v.Tmpfs != nil && v.Tmpfs.FromKey {
				continue // tmpfsMap
			}
			m.Type = mount.TypeTmpfs
			if v.Tmpfs != nil && (v.Tmpfs.SizeBytes != 0 || v.Tmpfs.Mode != 0) {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: v.Tmpfs.SizeBytes, Mode: os.FileMode(v.Tmpfs.Mode)}
			}
		default:
			return nil, nil, fmt.Errorf("mount %q: type %q is not supported by the docker engine", v.Target, v.Type)
		}
		out = append(out, m)
	}
	return out, binds, nil
}

// legacyBind renders "src:dst[:opts]" for HostConfig.Binds.
func legacyBind(v runspec.Mount) string {
	var opts []string
	if v.ReadOnly {
		opts = append(opts, "ro")
	}
	if v.SELinux != "" {
		opts = append(opts, v.SELinux)
	}
	if v.Propagation != "" {
		opts = append(opts, v.Propagation)
	}
	s := v.Source + ":" + v.Target
	if len(opts) > 0 {
		s += ":" + strings.Join(opts, ",")
	}
	return s
}
