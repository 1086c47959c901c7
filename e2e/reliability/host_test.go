package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/testengine"
)

// pids are the processes of the host's native engine: those naming its
// run dir (supervisors, monitors) and those in a cgroup of one of ids
// (the containers' processes), never this test's own.
func (h *host) pids(ids []string) []int {
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		cg, _ := os.ReadFile(filepath.Join(p, "cgroup"))
		if bytes.Contains(cmdline, []byte(h.runDir+"/")) || containsAny(string(cg), ids) {
			out = append(out, pid)
		}
	}
	return out
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// zombieOrGone reports whether pid has exited (reaped or not).
func zombieOrGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}

// mounts are the mount points under the host's store or run dir,
// deepest first.
func (h *host) mounts() []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (strings.HasPrefix(f[4], h.root+"/") || strings.HasPrefix(f[4], h.runDir+"/")) {
			out = append(out, f[4])
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// cgroups are the cgroup dirs named for one of ids.
func cgroups(ids []string) []string {
	var out []string
	for _, ctrl := range []string{"memory", "cpu", "cpuacct", "pids", "devices", "blkio", "cpuset", "freezer", "unified"} {
		filepath.WalkDir(filepath.Join("/sys/fs/cgroup", ctrl), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if containsAny(d.Name(), ids) {
				out = append(out, p)
				return filepath.SkipDir
			}
			return nil
		})
	}
	return out
}

// links are the host's links of project (bridges, veths), by name.
func links(project string) []string {
	out, err := exec.Command("ip", "-o", "link").Output()
	if err != nil {
		return []string{"ip -o link: " + err.Error()}
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "alias hoist:"+project+"/") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			names = append(names, name)
		}
	}
	return names
}

// nftTable reports whether project's nftables table exists.
func nftTable(project string) bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false
	}
	for _, t := range ts {
		if t.Name == "hoist-"+project {
			return true
		}
	}
	return false
}

// nftRulesOf counts the rules of the nftables table name (family ip).
func nftRulesOf(name string) int {
	c, err := nftables.New()
	if err != nil {
		return -1
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return -1
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name == name {
			rs, _ := c.GetRules(ch.Table, ch)
			n += len(rs)
		}
	}
	return n
}

// iptablesRules are the FORWARD and DOCKER-USER rules commented for
// project.
func iptablesRules(project string) []string {
	var out []string
	for _, chain := range []string{"FORWARD", "DOCKER-USER"} {
		o, err := exec.Command("iptables", "-w", "-S", chain).Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(o), "\n") {
			if strings.Contains(line, "hoist:"+project) {
				out = append(out, line)
			}
		}
	}
	return out
}

// reboot does to the host's engine what a reboot does to project: every
// process is killed (SIGKILL, no chance to clean up), the overlays and
// namespace mounts are gone, the cgroups, links, nftables table and
// iptables rules are gone, and so is the volatile run dir. The store
// (HOIST_ROOT) stays as it was.
func (h *host) reboot(project string, ids []string) {
	h.t.Helper()
	pids := h.pids(ids)
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for !zombieOrGone(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, m := range h.mounts() {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			h.t.Fatalf("unmount %s: %v", m, err)
		}
	}
	for _, cg := range cgroups(ids) {
		for i := 0; i < 50 && unix.Rmdir(cg) == unix.EBUSY; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := os.RemoveAll(h.runDir); err != nil {
		h.t.Fatal(err)
	}
	for _, l := range links(project) {
		exec.Command("ip", "link", "del", l).Run()
	}
	if c, err := nftables.New(); err == nil && nftTable(project) {
		c.DelTable(&nftables.Table{Name: "hoist-" + project, Family: nftables.TableFamilyIPv4})
		if err := c.Flush(); err != nil {
			h.t.Fatalf("delete nftables table: %v", err)
		}
	}
	for _, r := range iptablesRules(project) {
		args := strings.Fields(strings.Replace(r, "-A ", "-D ", 1))
		exec.Command("iptables", append([]string{"-w"}, unquote(args)...)...).Run()
	}
	if left := h.volatileLeftovers(project, ids); left != "" {
		h.t.Fatalf("the simulated reboot left:\n%s", left)
	}
}

// unquote drops the quotes iptables -S puts around a comment.
func unquote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.Trim(a, `"`)
	}
	return out
}

// leftovers lists what is left of project (and the containers ids) on
// the host: processes (zombies aside), mounts, cgroups, links, its
// nftables table and iptables rules, its run dir, its containers'
// writable layers and records, its network records.
func (h *host) leftovers(project string, ids []string) string {
	var b strings.Builder
	b.WriteString(h.volatileLeftovers(project, ids))
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(h.root, "containers", id)); err == nil {
			fmt.Fprintf(&b, "writable layer of %s\n", id)
		}
	}
	recs, _ := filepath.Glob(filepath.Join(h.root, "networks", project+"_*.json"))
	for _, r := range recs {
		fmt.Fprintf(&b, "durable network record %s\n", r)
	}
	// The host-wide subnet leases, as the file holds them.
	if raw, err := os.ReadFile(filepath.Join(h.root, "network", "subnets.json")); err == nil && strings.Contains(string(raw), `"project": "`+project+`"`) {
		fmt.Fprintf(&b, "subnet lease in network/subnets.json:\n%s\n", raw)
	}
	return b.String()
}

// volatileLeftovers is what a reboot ends of project: the leftovers but
// those in the store.
func (h *host) volatileLeftovers(project string, ids []string) string {
	var b strings.Builder
	for _, pid := range h.pids(ids) {
		if !zombieOrGone(pid) {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			fmt.Fprintf(&b, "process %d: %s\n", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
		}
	}
	for _, m := range h.mounts() {
		fmt.Fprintf(&b, "mount %s\n", m)
	}
	for _, cg := range cgroups(ids) {
		fmt.Fprintf(&b, "cgroup %s\n", cg)
	}
	for _, l := range links(project) {
		fmt.Fprintf(&b, "link %s\n", l)
	}
	if nftTable(project) {
		fmt.Fprintf(&b, "nftables table hoist-%s\n", project)
	}
	for _, r := range iptablesRules(project) {
		fmt.Fprintf(&b, "iptables %s\n", r)
	}
	if _, err := os.Stat(filepath.Join(h.runDir, project)); err == nil {
		fmt.Fprintf(&b, "run dir %s\n", filepath.Join(h.runDir, project))
	}
	recs, _ := filepath.Glob(filepath.Join(h.runDir, "networks", project+"_*.json"))
	for _, r := range recs {
		fmt.Fprintf(&b, "network record %s\n", r)
	}
	return b.String()
}

// ids are the full IDs of the project's containers (ps -a -q), as their
// writable layers name them.
func (p *project) ids() []string {
	p.h.t.Helper()
	if p.h.docker {
		return strings.Fields(p.hoist("ps", "-a", "-q"))
	}
	var out []string
	for _, short := range strings.Fields(p.hoist("ps", "-a", "-q")) {
		m, _ := filepath.Glob(filepath.Join(p.h.root, "containers", short+"*"))
		if len(m) != 1 {
			p.h.t.Fatalf("container %s: writable layers %v", short, m)
		}
		out = append(out, filepath.Base(m[0]))
	}
	return out
}

// down takes the project down with its volumes and checks that nothing
// of it is left.
func (p *project) downClean(ids []string) {
	p.h.t.Helper()
	if p.h.docker {
		p.hoist("down", "-v", "-t", "0", "--rmi", "local")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if left := testengine.DockerLeftovers(ctx, p.name); left != "" {
			p.h.t.Fatalf("down left in dockerd:\n%s", left)
		}
		return
	}
	p.hoist("down", "-v", "-t", "0")
	if left := p.h.leftovers(p.name, ids); left != "" {
		p.h.t.Fatalf("down left:\n%s", left)
	}
}
