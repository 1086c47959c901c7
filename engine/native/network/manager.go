package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/hoist-dev/hoist/netplan"
)

// Defaults for Options.
const (
	// DefaultAllocFile sits with the image store (/var/lib/hoist), shared
	// by every project on the host.
	DefaultAllocFile = "/var/lib/hoist/network/subnets.json"
)

// Error kinds, for errors.Is.
var (
	// ErrNotFound: the network or container is not known to its project.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request contradicts what exists (another config
	// for an existing network, an address already taken).
	ErrConflict = errors.New("conflict")
	// ErrInUse: a network still has containers attached.
	ErrInUse = errors.New("in use")
)

// Options configures New.
type Options struct {
	// RunDir holds each project's state under <RunDir>/<project>/net: the
	// native engine's run dir (engine/native/store's Layout); required.
	RunDir string
	// AllocFile records every hoist network's subnet on the host.
	AllocFile string
	// HostRoutes lists prefixes a new subnet must avoid; when nil, the
	// IPv4 routes of the host's namespace (see hostRoutes).
	HostRoutes func() ([]netip.Prefix, error)
	// Logf, when set, hears about what is cleaned up along the way.
	Logf func(format string, args ...any)
}

// Manager creates and removes the networks of projects. It holds no
// state of its own: every call reads and writes the state files, under a
// per-project lock (and a host-wide one for subnets), so several processes
// may use Managers on the same directories, and one process may tear down
// what another set up.
type Manager struct {
	runDir     string
	allocFile  string
	hostRoutes func() ([]netip.Prefix, error)
	logf       func(string, ...any)
}

// New returns a Manager; it touches nothing until used.
func New(opts Options) (*Manager, error) {
	if opts.RunDir == "" {
		return nil, errors.New("network manager: no run dir")
	}
	if opts.AllocFile == "" {
		opts.AllocFile = DefaultAllocFile
	}
	runDir, err := filepath.Abs(opts.RunDir)
	if err != nil {
		return nil, err
	}
	alloc, err := filepath.Abs(opts.AllocFile)
	if err != nil {
		return nil, err
	}
	m := &Manager{runDir: runDir, allocFile: alloc, hostRoutes: opts.HostRoutes, logf: opts.Logf}
	if m.hostRoutes == nil {
		m.hostRoutes = hostRoutes
	}
	if m.logf == nil {
		m.logf = func(string, ...any) {}
	}
	return m, nil
}

// Paths of a project's state.
func (m *Manager) projectDir(project string) string {
	return filepath.Join(m.runDir, project, "net")
}
func (m *Manager) netPath(project, name string) string {
	return filepath.Join(m.projectDir(project), "networks", name+".json")
}
func (m *Manager) ctrPath(project, container string) string {
	return filepath.Join(m.projectDir(project), "containers", container+".json")
}
func (m *Manager) netnsDir(project string) string {
	return filepath.Join(m.projectDir(project), "netns")
}

// NetnsPath is where container's network namespace is bind-mounted while
// it is attached.
func (m *Manager) NetnsPath(project, container string) string {
	return filepath.Join(m.netnsDir(project), container)
}

// HostsFile is container's /etc/hosts, kept up to date by Attach and
// Detach; the engine bind-mounts it into the container.
func (m *Manager) HostsFile(project, container string) string {
	return filepath.Join(m.projectDir(project), "hosts", container)
}

func (m *Manager) lockProject(project string) (*fileLock, error) {
	return lockFile(filepath.Join(m.runDir, project, "net.lock"))
}

// NetSpec describes a compose network.
type NetSpec struct {
	// Name is the engine-level name ("proj_default"), unique on the host.
	Name    string
	Project string
	// Internal networks get no default route and no way out of the bridge.
	Internal bool
	// Subnet is the IPv4 subnet to use; the zero Prefix allocates a free
	// one avoiding the host's routes and every other hoist network.
	Subnet netip.Prefix
}

// Network is a network as it exists.
type Network struct {
	Name     string
	Project  string
	Bridge   string // the Linux bridge, "hoist-<hash>"
	Subnet   netip.Prefix
	Gateway  netip.Addr // the bridge's address
	Internal bool
}

func (n netState) public() Network {
	return Network{Name: n.Name, Project: n.Project, Bridge: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway, Internal: n.Internal}
}

// EnsureNetwork makes the network exist: a subnet recorded on the host,
// a bridge holding the gateway address and up, the project's NAT and
// forward rules. It is idempotent and repairs what is missing (after a
// reboot, say); asking an existing network for another subnet or another
// internal setting is an ErrConflict.
func (m *Manager) EnsureNetwork(ctx context.Context, spec NetSpec) (Network, error) {
	if err := ctx.Err(); err != nil {
		return Network{}, err
	}
	if err := checkName("project", spec.Project); err != nil {
		return Network{}, err
	}
	if err := checkName("network", spec.Name); err != nil {
		return Network{}, err
	}
	if spec.Subnet.IsValid() && !spec.Subnet.Addr().Is4() {
		return Network{}, fmt.Errorf("network %q: subnet %s: only IPv4 subnets are supported", spec.Name, spec.Subnet)
	}
	lk, err := m.lockProject(spec.Project)
	if err != nil {
		return Network{}, err
	}
	defer lk.unlock()

	var st netState
	fresh := false
	err = readJSON(m.netPath(spec.Project, spec.Name), &st)
	switch {
	case err == nil:
		if spec.Subnet.IsValid() && spec.Subnet.Masked() != st.Subnet {
			return Network{}, fmt.Errorf("network %q has subnet %s, not %s: %w", spec.Name, st.Subnet, spec.Subnet, ErrConflict)
		}
		if spec.Internal != st.Internal {
			return Network{}, fmt.Errorf("network %q exists with internal=%v: %w", spec.Name, st.Internal, ErrConflict)
		}
	case errors.Is(err, fs.ErrNotExist):
		fresh = true
		if st, err = m.allocate(spec); err != nil {
			return Network{}, err
		}
	default:
		return Network{}, err
	}
	if err := ensureBridge(st); err != nil {
		return Network{}, fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	if err := m.applyRules(spec.Project); err != nil {
		return Network{}, fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	chain := forwardChain()
	if st.Forward == nil || *st.Forward != chain {
		// The chain changed (dockerd came or went): the old rules go.
		switch {
		case fresh:
			err = nil
		case st.Forward == nil:
			err = removeForward(spec.Project, st.Bridge)
		default:
			err = dropForward(*st.Forward, st)
		}
		if err != nil {
			return Network{}, fmt.Errorf("create network %q: %w", spec.Name, err)
		}
		st.Forward = &chain
		if err := writeJSON(m.netPath(spec.Project, spec.Name), st); err != nil {
			return Network{}, fmt.Errorf("create network %q: %w", spec.Name, err)
		}
	}
	if err := allowForward(chain, st); err != nil {
		return Network{}, fmt.Errorf("create network %q: %w", spec.Name, err)
	}
	if !st.Internal {
		if err := enableForwarding(); err != nil {
			return Network{}, fmt.Errorf("create network %q: %w", spec.Name, err)
		}
	}
	return st.public(), nil
}

// allocate picks spec's subnet under the host-wide lock and records it,
// together with the network's state file (written first, so a crash
// leaves nothing that Teardown cannot find).
func (m *Manager) allocate(spec NetSpec) (netState, error) {
	lk, err := lockFile(m.allocFile + ".lock")
	if err != nil {
		return netState{}, err
	}
	defer lk.unlock()
	af, _, err := m.readAlloc()
	if err != nil {
		return netState{}, err
	}
	if e, ok := af.Networks[spec.Name]; ok {
		return netState{}, fmt.Errorf("network %q already belongs to project %q: %w", spec.Name, e.Project, ErrConflict)
	}
	taken, err := m.hostRoutes()
	if err != nil {
		return netState{}, err
	}
	for _, e := range af.Networks {
		taken = append(taken, e.Subnet)
	}
	got, err := netplan.AllocateSubnets([]netplan.SubnetRequest{{Name: spec.Name, Subnet: spec.Subnet}}, taken)
	if err != nil {
		return netState{}, fmt.Errorf("network %q: %w", spec.Name, err)
	}
	subnet := got[spec.Name].Masked()
	st := netState{Name: spec.Name, Project: spec.Project, Bridge: bridgeName(spec.Project, spec.Name),
		Subnet: subnet, Gateway: netplan.Gateway(subnet), Internal: spec.Internal}
	path := m.netPath(spec.Project, spec.Name)
	if err := writeJSON(path, st); err != nil {
		return netState{}, err
	}
	af.Networks[spec.Name] = allocEntry{Project: spec.Project, Subnet: subnet, State: path}
	if err := writeDurableJSON(m.allocFile, af); err != nil {
		os.Remove(path)
		return netState{}, err
	}
	return st, nil
}

// readAlloc reads the allocation file, dropping stale entries, and says
// how many it dropped (so that a writer knows the file has them still);
// the caller holds its lock.
func (m *Manager) readAlloc() (allocFile, int, error) {
	var af allocFile
	if err := readJSON(m.allocFile, &af); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return af, 0, err
	}
	if af.Networks == nil {
		af.Networks = map[string]allocEntry{}
	}
	stale := 0
	for name, e := range af.Networks {
		if _, err := os.Stat(e.State); errors.Is(err, fs.ErrNotExist) {
			delete(af.Networks, name)
			stale++
		}
	}
	return af, stale, nil
}

// neverNetworked reports whether project has no network record and no
// subnet lease.
func (m *Manager) neverNetworked(project string) bool {
	if _, err := os.Lstat(m.projectDir(project)); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	af, _, err := m.readAlloc()
	if err != nil {
		return false
	}
	for _, e := range af.Networks {
		if e.Project == project {
			return false
		}
	}
	return true
}

// releaseSubnets drops the allocation entries of project's networks
// (all of them when names is nil).
func (m *Manager) releaseSubnets(project string, names ...string) error {
	lk, err := lockFile(m.allocFile + ".lock")
	if err != nil {
		return err
	}
	defer lk.unlock()
	af, stale, err := m.readAlloc()
	if err != nil {
		return err
	}
	n := len(af.Networks)
	for name, e := range af.Networks {
		if e.Project != project {
			continue
		}
		if names == nil || contains(names, name) {
			delete(af.Networks, name)
		}
	}
	// RemoveNetwork removes the state file first, so its entry is among
	// the stale ones: those must go from the file too, or every down
	// would leave its leases there until the next allocation.
	if len(af.Networks) == n && stale == 0 {
		return nil
	}
	return writeDurableJSON(m.allocFile, af)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (m *Manager) applyRules(project string) error {
	nets, err := readAll[netState](filepath.Join(m.projectDir(project), "networks"))
	if err != nil {
		return err
	}
	return applyRules(project, nets)
}

// Networks lists project's networks.
func (m *Manager) Networks(project string) ([]Network, error) {
	if err := checkName("project", project); err != nil {
		return nil, err
	}
	nets, err := readAll[netState](filepath.Join(m.projectDir(project), "networks"))
	out := make([]Network, 0, len(nets))
	for _, n := range nets {
		out = append(out, n.public())
	}
	return out, err
}

// RemoveNetwork deletes the network's bridge, rules, address reservations
// and subnet. A network that does not exist is already removed; one with
// containers attached is an ErrInUse.
func (m *Manager) RemoveNetwork(ctx context.Context, project, name string) error {
	if err := checkName("project", project); err != nil {
		return err
	}
	if err := checkName("network", name); err != nil {
		return err
	}
	lk, err := m.lockProject(project)
	if err != nil {
		return err
	}
	defer lk.unlock()
	var st netState
	err = readJSON(m.netPath(project, name), &st)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	ctrs, err := readAll[ctrState](filepath.Join(m.projectDir(project), "containers"))
	if err != nil {
		return err
	}
	for _, c := range ctrs {
		for _, l := range c.Links {
			if l.Network == name {
				return fmt.Errorf("remove network %q: container %s is attached: %w", name, c.Container, ErrInUse)
			}
		}
	}
	if err := deleteLink(st.Bridge); err != nil {
		return fmt.Errorf("remove network %q: %w", name, err)
	}
	if st.Forward == nil {
		err = removeForward(project, st.Bridge)
	} else {
		// Known: no iptables to list (3 execs of iptables) or search.
		err = dropForward(*st.Forward, st)
	}
	if err != nil {
		return fmt.Errorf("remove network %q: %w", name, err)
	}
	if err := os.Remove(m.netPath(project, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return errors.Join(m.releaseSubnets(project, name), m.applyRules(project))
}

// Teardown removes everything of project: every container's veths and
// namespace file, every bridge, the nftables table, the subnets and the
// state directory. It works from the state files alone, when every process
// of the project is dead, and then sweeps links tagged with the project
// (a crash may have lost their record). It never touches another
// project's objects. What it could not remove is reported, after it tried
// everything else. It runs to the end even when ctx is cancelled: a half
// teardown helps no one.
func (m *Manager) Teardown(ctx context.Context, project string) error {
	if err := checkName("project", project); err != nil {
		return err
	}
	lk, err := m.lockProject(project)
	if err != nil {
		return err
	}
	defer lk.unlock()
	if m.neverNetworked(project) {
		// Nothing of the project's network can exist: every resource is
		// recorded (in projectDir, or as a lease) before it is made. This
		// keeps "run --rm" of a network_mode none service free of the
		// sweep below (links, nft, iptables).
		return nil
	}
	// Deleting a link waits for the kernel (an RCU grace period each,
	// 20 to 30 ms here), and so does deleting the nftables table; the
	// waits overlap when the deletions run side by side: every veth, every
	// bridge, the table, the iptables rules and the subnets at once. The
	// sweep comes after, to find only what they missed.
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	do := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	ctrs, err := readAll[ctrState](filepath.Join(m.projectDir(project), "containers"))
	errs = append(errs, err)
	for _, c := range ctrs {
		do(func() error { return m.unplug(c) })
	}
	nets, err := readAll[netState](filepath.Join(m.projectDir(project), "networks"))
	errs = append(errs, err)
	for _, n := range nets {
		do(func() error { return deleteLink(n.Bridge) })
	}
	do(func() error { return deleteTable(project) })
	do(func() error { return removeForward(project, "") })
	do(func() error { return m.releaseSubnets(project) })
	wg.Wait()
	// Namespace files without a record (a crash between mount and record
	// is impossible, since the record comes first, but be thorough).
	if ents, err := os.ReadDir(m.netnsDir(project)); err == nil {
		for _, e := range ents {
			errs = append(errs, removeNetns(filepath.Join(m.netnsDir(project), e.Name())))
		}
	}
	errs = append(errs, sweepLinks(project, m.logf))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down network of project %q: %w", project, err)
	}
	if err := os.RemoveAll(m.projectDir(project)); err != nil {
		return fmt.Errorf("tear down network of project %q: %w", project, err)
	}
	return nil
}
