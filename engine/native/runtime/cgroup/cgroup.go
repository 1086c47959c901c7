// Package cgroup is a container's cgroups, on the host side only (the
// process that starts containers; the init binary never links it): where
// they are on cgroup v1 (one hierarchy per controller) or v2 (one unified
// hierarchy), the resource limits written there, the device rules that
// limit which devices the container may use (the v1 devices controller's
// lists, or on v2 a BPF program attached to the cgroup, devices_v2.go),
// and their removal, killing what is left in them.
//
// On cgroup v1 a container gets
//
//	/sys/fs/cgroup/<ctrl>/<hoist's own path for ctrl>/hoist/<container-id>
//
// for ctrl in memory, cpu, pids and devices, where hoist's own path is
// read from /proc/self/cgroup, so hoist nests inside whatever cgroup it
// was started in. On cgroup v2 (when /sys/fs/cgroup/cgroup.controllers
// lists controllers) the same relative path is used in the unified
// hierarchy. Destroy kills whatever is left in the container's cgroups,
// waits for them to empty, removes them, and removes the shared "hoist"
// directory when it became empty.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/devicerule"
)

// cgroupRoot is where cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// v1Controllers are the hierarchies a container gets a directory in.
var v1Controllers = []string{"memory", "cpu", "pids", "devices", "freezer", "cpuacct"}

// v1Optional are the controllers a container does without where the
// host has not mounted them: pause (freezer) and CPU accounting
// (cpuacct, often mounted with cpu) then fail, and nothing else.
var v1Optional = map[string]bool{"freezer": true, "cpuacct": true}

// Resources are the limits of a container's cgroup; zero means
// unlimited. MemorySwapBytes is memory plus swap (Docker's --memory-swap),
// -1 unlimited swap, and only applied with MemoryBytes and where the
// kernel accounts swap; NanoCPUs is CPUs × 1e9.
type Resources struct {
	MemoryBytes     int64
	MemorySwapBytes int64
	NanoCPUs        int64
	PidsLimit       int64
}

// Container is one container's cgroup directories: one per v1
// controller, or one in the v2 unified hierarchy. See the package doc
// for the layout.
type Container struct {
	v2   bool
	dirs map[string]string // controller ("" for v2) → directory
}

// IsV2 reports whether the unified hierarchy has controllers; a v2 mount
// without them (as beside v1 on some hosts) does not count.
func IsV2() bool {
	b, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
	return err == nil && strings.TrimSpace(string(b)) != ""
}

// Own parses /proc/self/cgroup: controller → path ("" for v2).
func Own() (map[string]string, error) {
	out, err := readProcCgroup("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	return out, nil
}

// readProcCgroup parses a /proc/<pid>/cgroup file: controller → path (""
// for v2).
func readProcCgroup(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, sc.Err()
}

// v1Mounts maps each v1 controller to its mount point and the mount's
// root (not "/" when hoist itself runs in a container).
func v1Mounts() (map[string][2]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	out := map[string][2]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(qf[2], ",") {
			if _, seen := out[opt]; !seen {
				out[opt] = [2]string{pf[4], pf[3]}
			}
		}
	}
	return out, sc.Err()
}

// Of is the cgroup of container id, as a process in this one's cgroup
// creates it; nothing is created yet (Create).
func Of(id string) (*Container, error) {
	own, err := Own()
	if err != nil {
		return nil, err
	}
	if IsV2() {
		return &Container{v2: true, dirs: map[string]string{"": filepath.Join(cgroupRoot, own[""], "hoist", id)}}, nil
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	cg := &Container{dirs: map[string]string{}}
	for _, c := range v1Controllers {
		m, ok := mounts[c]
		if !ok && c == "devices" {
			return nil, errNoDeviceController
		}
		if !ok && v1Optional[c] {
			continue
		}
		if !ok {
			return nil, fmt.Errorf("cgroup v1 controller %s is not mounted", c)
		}
		rel := strings.TrimPrefix(own[c], m[1])
		cg.dirs[c] = filepath.Join(m[0], rel, "hoist", id)
	}
	return cg, nil
}

// OfProcess is the cgroup that process pid is in, for the controllers a
// container uses: a process joins a running container's cgroup by Add.
func OfProcess(pid int) (*Container, error) {
	paths, err := readProcCgroup(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, fmt.Errorf("read container cgroup: %w", err)
	}
	if IsV2() {
		return &Container{v2: true, dirs: map[string]string{"": filepath.Join(cgroupRoot, paths[""])}}, nil
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	cg := &Container{dirs: map[string]string{}}
	for _, c := range v1Controllers {
		m, ok := mounts[c]
		if !ok {
			continue
		}
		cg.dirs[c] = filepath.Join(m[0], strings.TrimPrefix(paths[c], m[1]))
	}
	return cg, nil
}

// Dirs is the container's directory of each controller ("" on v2).
func (c *Container) Dirs() map[string]string { return maps.Clone(c.dirs) }

func writeCgroupFile(dir, name, value string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0); err != nil {
		return fmt.Errorf("cgroup %s=%s: %w", name, value, err)
	}
	return nil
}

// errNoDeviceController refuses to run a container whose device access
// nothing would limit: with CAP_MKNOD it could open every host device.
var errNoDeviceController = errors.New("this host's cgroup v1 has no devices controller, so nothing would stop a container from opening any host device; " +
	"hoist will not start containers without it: mount it (mount -t cgroup -o devices cgroup /sys/fs/cgroup/devices)")

// Create makes the directories and writes the limits and the device
// rules (the whole allow list, after an implicit deny of every device).
func (c *Container) Create(r Resources, devices []devicerule.Rule) error {
	if c.v2 {
		return c.createV2(r, devices)
	}
	for ctrl, dir := range c.dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
		switch {
		case ctrl == "memory" && r.MemoryBytes > 0:
			if err := writeCgroupFile(dir, "memory.limit_in_bytes", strconv.FormatInt(r.MemoryBytes, 10)); err != nil {
				return err
			}
			// After the memory limit: the kernel refuses a memsw limit
			// below it.
			if r.MemorySwapBytes != 0 && fileExists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
				if err := writeCgroupFile(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(r.MemorySwapBytes, 10)); err != nil {
					return err
				}
			}
		case ctrl == "cpu" && r.NanoCPUs > 0:
			const period = 100000
			if err := writeCgroupFile(dir, "cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
				return err
			}
			if err := writeCgroupFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(r.NanoCPUs*period/1e9, 10)); err != nil {
				return err
			}
		case ctrl == "pids" && r.PidsLimit > 0:
			if err := writeCgroupFile(dir, "pids.max", strconv.FormatInt(r.PidsLimit, 10)); err != nil {
				return err
			}
		case ctrl == "devices":
			if err := writeDeviceRulesV1(dir, devices); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeDeviceRulesV1 denies every device, then allows rules, and checks
// the outcome: a rule the kernel took otherwise must not leave the
// container with more than it should have.
func writeDeviceRulesV1(dir string, rules []devicerule.Rule) error {
	if err := writeCgroupFile(dir, "devices.deny", "a"); err != nil {
		return fmt.Errorf("device rules: %w", err)
	}
	allowAll := false
	for _, r := range rules {
		if err := writeCgroupFile(dir, "devices.allow", r.String()); err != nil {
			return fmt.Errorf("device rules: %w", err)
		}
		allowAll = allowAll || r == devicerule.All()
	}
	b, err := os.ReadFile(filepath.Join(dir, "devices.list"))
	if err != nil {
		return fmt.Errorf("device rules: %w", err)
	}
	if !allowAll && strings.Contains(string(b), devicerule.All().String()) {
		return fmt.Errorf("device rules: %s still allows every device", dir)
	}
	return nil
}

// createV2 enables the controllers on the way down. This needs hoist's
// own cgroup to delegate them; a non-root cgroup that holds processes
// cannot (the "no internal processes" rule), so then the error says so.
func (c *Container) createV2(r Resources, devices []devicerule.Rule) error {
	dir := c.dirs[""]
	parent := filepath.Dir(dir)
	for _, d := range []string{filepath.Dir(parent), parent} {
		if d == parent {
			if err := os.MkdirAll(parent, 0o755); err != nil {
				return fmt.Errorf("create cgroup: %w", err)
			}
		}
		for _, ctrl := range []string{"memory", "cpu", "pids"} {
			if err := writeCgroupFile(d, "cgroup.subtree_control", "+"+ctrl); err != nil {
				return fmt.Errorf("enable %s for containers (hoist's cgroup must delegate it): %w", ctrl, err)
			}
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup: %w", err)
	}
	if r.MemoryBytes > 0 {
		if err := writeCgroupFile(dir, "memory.max", strconv.FormatInt(r.MemoryBytes, 10)); err != nil {
			return err
		}
		// v2 limits swap alone.
		if sw := r.MemorySwapBytes; sw != 0 && fileExists(filepath.Join(dir, "memory.swap.max")) {
			v := "max"
			if sw > 0 {
				v = strconv.FormatInt(max(sw-r.MemoryBytes, 0), 10)
			}
			if err := writeCgroupFile(dir, "memory.swap.max", v); err != nil {
				return err
			}
		}
	}
	if r.NanoCPUs > 0 {
		const period = 100000
		if err := writeCgroupFile(dir, "cpu.max", fmt.Sprintf("%d %d", r.NanoCPUs*period/1e9, period)); err != nil {
			return err
		}
	}
	if r.PidsLimit > 0 {
		if err := writeCgroupFile(dir, "pids.max", strconv.FormatInt(r.PidsLimit, 10)); err != nil {
			return err
		}
	}
	return attachDeviceFilter(dir, devices)
}

// Add moves pid into every directory of the container.
func (c *Container) Add(pid int) error {
	for _, dir := range c.dirs {
		if err := writeCgroupFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Pids lists the processes in the cgroup directory dir.
func Pids(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// Destroy kills whatever is left, waits until each directory is empty,
// removes it, and removes the shared "hoist" parent when it is unused.
// A killed process leaves the cgroup only once it has been reaped, so the
// wait is bounded (10 s) rather than assumed.
func (c *Container) Destroy() error {
	// A frozen process takes no signal, not even SIGKILL, until thawed.
	_ = c.Thaw()
	var errs []error
	for _, dir := range c.dirs {
		deadline := time.Now().Add(10 * time.Second)
		for delay := time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
			pids, err := Pids(dir)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err == nil && len(pids) == 0 {
				err = unix.Rmdir(dir)
				if err == nil || errors.Is(err, unix.ENOENT) {
					break
				}
			}
			for _, pid := range pids {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: still busy: %v", dir, err))
				break
			}
			time.Sleep(delay)
		}
		// Other containers may still use the parent; then it stays.
		_ = unix.Rmdir(filepath.Dir(dir))
	}
	return errors.Join(errs...)
}

// Remove kills whatever is left in container id's cgroups, as a process
// in this one's cgroup creates them, and removes them. It is the cleanup
// for a container whose monitor or supervisor died; removing what is
// already gone is not an error.
func Remove(id string) error {
	cg, err := Of(id)
	if err != nil {
		return err
	}
	return cg.Destroy()
}

// Existing lists the existing cgroup directories of container id, for
// leak checks.
func Existing(id string) []string {
	cg, err := Of(id)
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range cg.dirs {
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
