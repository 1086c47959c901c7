package native

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/network"
)

// networkRecord is a network's <RunDir>/networks/<name>.json.
type networkRecord struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Project  string            `json:"project,omitempty"`
	Key      string            `json:"key,omitempty"`
	Driver   string            `json:"driver,omitempty"`
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Subnets  []string          `json:"subnets,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	Created  time.Time         `json:"created"`
}

func (b *Backend) networkPath(name string) string {
	return filepath.Join(b.runDir, "networks", name+".json")
}

// CreateNetwork records the network and makes it exist on the host: a
// bridge with a subnet (the first IPv4 one of spec.Subnets, else a free
// one), NAT out unless internal, the project's forward rules.
func (b *Backend) CreateNetwork(ctx context.Context, spec engine.NetworkSpec) error {
	if err := checkName("network", spec.Name); err != nil {
		return err
	}
	if spec.Project == "" || checkName("project", spec.Project) != nil {
		return fmt.Errorf("create network %q: invalid project name %q", spec.Name, spec.Project)
	}
	if spec.Driver != "" && spec.Driver != "bridge" {
		return fmt.Errorf("create network %q: driver %q: %w by the native engine (bridge only)", spec.Name, spec.Driver, engine.ErrNotImplemented)
	}
	subnet, err := firstSubnet(spec.Subnets)
	if err != nil {
		return fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	n := networkRecord{ID: newID(), Name: spec.Name, Project: spec.Project, Key: spec.Key, Driver: spec.Driver,
		Internal: spec.Internal, Subnets: spec.Subnets, Options: spec.Options, Created: time.Now().UTC()}
	n.Labels = map[string]string{}
	if spec.Project != "" {
		n.Labels[engine.LabelProject] = spec.Project
	}
	if spec.Key != "" {
		n.Labels[engine.LabelNetwork] = spec.Key
	}
	for k, v := range spec.Labels {
		n.Labels[k] = v
	}
	data, err := jsonIndent(n)
	if err != nil {
		return err
	}
	err = createFileExclusive(b.networkPath(spec.Name), data)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create network %q: %w", spec.Name, engine.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	if _, err := b.netm.EnsureNetwork(ctx, network.NetSpec{Name: spec.Name, Project: spec.Project, Internal: spec.Internal, Subnet: subnet}); err != nil {
		err = fmt.Errorf("create network %q: %w", spec.Name, err)
		if rerr := b.netm.RemoveNetwork(context.WithoutCancel(ctx), spec.Project, spec.Name); rerr != nil {
			return errors.Join(err, rerr)
		}
		os.Remove(b.networkPath(spec.Name))
		b.maybeTeardown(ctx, spec.Project)
		return err
	}
	return nil
}

// firstSubnet is the first IPv4 subnet of a network spec, or the zero
// Prefix; IPv6 subnets are ignored (the native engine is IPv4 only).
func firstSubnet(subnets []string) (netip.Prefix, error) {
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("subnet %q: %w", s, err)
		}
		if p.Addr().Is4() {
			return p.Masked(), nil
		}
	}
	return netip.Prefix{}, nil
}

// RemoveNetwork removes the network's bridge, rules and record; a network
// a container is attached to is an ErrConflict. The project's network
// state goes with its last network and container (maybeTeardown).
func (b *Backend) RemoveNetwork(ctx context.Context, name string) error {
	if checkName("network", name) != nil {
		return fmt.Errorf("network %q: %w", name, engine.ErrNotFound)
	}
	n, err := b.readNetwork(name)
	if err != nil {
		return fmt.Errorf("remove network %q: %w", name, err)
	}
	recs, err := b.allRecords()
	if err != nil {
		return err
	}
	for _, r := range recs {
		for _, a := range r.Networks {
			if a.Name == name {
				return fmt.Errorf("remove network %q: container %s is attached: %w", name, r.Name, engine.ErrConflict)
			}
		}
	}
	if n.Project != "" {
		if err := b.netm.RemoveNetwork(ctx, n.Project, name); err != nil {
			if errors.Is(err, network.ErrInUse) {
				err = fmt.Errorf("%w: %w", err, engine.ErrConflict)
			}
			return fmt.Errorf("remove network %q: %w", name, err)
		}
	}
	if err := os.Remove(b.networkPath(name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove network %q: %w", name, engine.ErrNotFound)
		}
		return fmt.Errorf("remove network %q: %w", name, err)
	}
	if n.Project != "" {
		b.maybeTeardown(ctx, n.Project)
	}
	return nil
}

// maybeTeardown removes what is left of project on the host once it has
// no container and no network: the network manager's state (nftables
// table, stray links) and <RunDir>/<project>. Failures are reported
// through Logf: the caller's work is done, and a later down retries
// (TeardownProject).
func (b *Backend) maybeTeardown(ctx context.Context, project string) {
	if err := b.TeardownProject(ctx, project); err != nil {
		b.logf("project %s: %v", project, err)
	}
}

// TeardownProject is maybeTeardown's work, with its error: down calls it
// last, so that what an earlier teardown could not remove goes then.
func (b *Backend) TeardownProject(ctx context.Context, project string) error {
	if checkName("project", project) != nil {
		return nil
	}
	if m, _ := filepath.Glob(filepath.Join(b.stateDir(project, "*"), configFile)); len(m) > 0 {
		return nil
	}
	nets, _ := filepath.Glob(filepath.Join(b.runDir, "networks", "*.json"))
	for _, p := range nets {
		var n networkRecord
		if readJSON(p, &n) == nil && n.Project == project {
			return nil
		}
	}
	if err := b.teardownSupervisor(context.WithoutCancel(ctx), project); err != nil {
		return err
	}
	if err := b.netm.Teardown(context.WithoutCancel(ctx), project); err != nil {
		return err
	}
	return os.RemoveAll(b.projectDir(project))
}

func (b *Backend) readNetwork(name string) (networkRecord, error) {
	var n networkRecord
	err := readJSON(b.networkPath(name), &n)
	if errors.Is(err, fs.ErrNotExist) {
		return n, fmt.Errorf("network %q: %w", name, engine.ErrNotFound)
	}
	return n, err
}
