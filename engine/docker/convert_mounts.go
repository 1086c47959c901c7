package docker

import (
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/versions"
)

// mounts converts service volumes to the Mounts API. Two binds go to the
// legacy Binds syntax instead: one with create_host_path on a daemon older
// than API 1.42 (no CreateMountpoint there), and one with an SELinux
// relabel option, which the Mounts API cannot express.
func mounts(vols []types.ServiceVolumeConfig, apiVersion string) ([]mount.Mount, []string, error) {
	var out []mount.Mount
	var binds []string
	for _, v := range vols {
		m := mount.Mount{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly, Consistency: mount.Consistency(v.Consistency)}
		if v.Target == "" {
			return nil, nil, fmt.Errorf("volume %q: no target path", v.Source)
		}
		switch v.Type {
		case types.VolumeTypeBind:
			m.Type = mount.TypeBind
			create := v.Bind == nil || bool(v.Bind.CreateHostPath)
			selinux := v.Bind != nil && v.Bind.SELinux != ""
			if selinux || (create && versions.LessThan(apiVersion, "1.42")) {
				binds = append(binds, legacyBind(v))
				continue
			}
			opts := &mount.BindOptions{CreateMountpoint: create}
			if v.Bind != nil {
				opts.Propagation = mount.Propagation(v.Bind.Propagation)
				opts.NonRecursive = v.Bind.Recursive == "disabled"
			}
			if *opts != (mount.BindOptions{}) {
				m.BindOptions = opts
			}
		case types.VolumeTypeVolume:
			m.Type = mount.TypeVolume
			if v.Volume != nil {
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Subpath: v.Volume.Subpath, Labels: v.Volume.Labels}
			}
		case types.VolumeTypeTmpfs:
			m.Type = mount.TypeTmpfs
			m.Source = ""
			if v.Tmpfs != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
			}
		default:
			return nil, nil, fmt.Errorf("volume %q: type %q is not supported by the docker engine backend", v.Target, v.Type)
		}
		out = append(out, m)
	}
	return out, binds, nil
}

// legacyBind renders "src:dst[:opts]" for HostConfig.Binds.
func legacyBind(v types.ServiceVolumeConfig) string {
	var opts []string
	if v.ReadOnly {
		opts = append(opts, "ro")
	}
	if v.Bind != nil {
		if v.Bind.SELinux != "" {
			opts = append(opts, v.Bind.SELinux)
		}
		if v.Bind.Propagation != "" {
			opts = append(opts, v.Bind.Propagation)
		}
	}
	s := v.Source + ":" + v.Target
	if len(opts) > 0 {
		s += ":" + strings.Join(opts, ",")
	}
	return s
}
