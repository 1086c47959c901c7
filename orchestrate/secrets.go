package orchestrate

import (
	"fmt"
	"os"
	"path"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
)

// secretsAndConfigs turns a service's secrets and configs into what any
// engine can do without swarm, as docker compose does: a read-only bind
// mount of the declared file, or a file written into the container
// (content, or the value of an environment variable). Secrets go under
// /run/secrets unless their target is absolute; configs under /.
func secretsAndConfigs(p *types.Project, s types.ServiceConfig) ([]types.ServiceVolumeConfig, []engine.File, error) {
	var mounts []types.ServiceVolumeConfig
	var files []engine.File
	add := func(kind, dir string, ref types.FileReferenceConfig, obj types.FileObjectConfig) error {
		value, hasValue := compose.ObjectValue(p, obj)
		target := ref.Target
		switch {
		case target == "":
			target = path.Join(dir, ref.Source)
		case !path.IsAbs(target):
			target = path.Join(dir, target)
		}
		target = path.Clean(target)
		switch {
		case bool(obj.External):
			return fmt.Errorf("service %q: %s %q is external (swarm); hoist runs without swarm: give it a file, environment or content", s.Name, kind, ref.Source)
		case obj.File != "":
			mounts = append(mounts, types.ServiceVolumeConfig{
				Type: types.VolumeTypeBind, Source: obj.File, Target: target, ReadOnly: true,
				Bind: &types.ServiceVolumeBind{CreateHostPath: false},
			})
			return nil
		case hasValue:
			f := engine.File{Path: target, Content: []byte(value), Mode: 0o444}
			if ref.Mode != nil {
				f.Mode = os.FileMode(*ref.Mode) & os.ModePerm
			}
			var err error
			if f.UID, err = numericID(ref.UID); err != nil {
				return fmt.Errorf("service %q: %s %q: uid: %w", s.Name, kind, ref.Source, err)
			}
			if f.GID, err = numericID(ref.GID); err != nil {
				return fmt.Errorf("service %q: %s %q: gid: %w", s.Name, kind, ref.Source, err)
			}
			files = append(files, f)
			return nil
		}
		return fmt.Errorf("service %q: %s %q has no value: its environment variable %q is not set", s.Name, kind, ref.Source, obj.Environment)
	}
	for _, ref := range s.Secrets {
		obj, ok := p.Secrets[ref.Source]
		if !ok {
			return nil, nil, fmt.Errorf("service %q: secret %q is not declared", s.Name, ref.Source)
		}
		if err := add("secret", "/run/secrets", types.FileReferenceConfig(ref), types.FileObjectConfig(obj)); err != nil {
			return nil, nil, err
		}
	}
	for _, ref := range s.Configs {
		obj, ok := p.Configs[ref.Source]
		if !ok {
			return nil, nil, fmt.Errorf("service %q: config %q is not declared", s.Name, ref.Source)
		}
		if err := add("config", "/", types.FileReferenceConfig(ref), types.FileObjectConfig(obj)); err != nil {
			return nil, nil, err
		}
	}
	return mounts, files, nil
}

// numericID reads a uid or gid ("" is 0); names would need the image's
// /etc/passwd, which only the container has.
func numericID(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}
