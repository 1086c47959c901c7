package rootless

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/cgroup"
)

// Finding is one thing hoist doctor checks: what it found and, when it
// is a problem, what to do.
type Finding struct {
	Check string
	// OK: fine; Warn: rootless runs, with less (Detail says what).
	OK, Warn bool
	Detail   string
	Fix      string
}

// Doctor checks what the rootless native engine needs for the user name
// (uid, gid): user namespaces, the id mapping tools and ranges, nsenter,
// overlay in a user namespace, cgroups and the unprivileged port start.
func Doctor(name string, uid, gid int) []Finding {
	var out []Finding
	add := func(f Finding) { out = append(out, f) }

	maxNS := readTrim("/proc/sys/user/max_user_namespaces")
	switch {
	case maxNS == "":
		add(Finding{Check: "user namespaces", Detail: "this kernel has none (no /proc/sys/user/max_user_namespaces)", Fix: "use a kernel built with CONFIG_USER_NS"})
	case maxNS == "0":
		add(Finding{Check: "user namespaces", Detail: "user.max_user_namespaces is 0", Fix: "as root: sysctl -w user.max_user_namespaces=28633 (and in /etc/sysctl.d to keep it)"})
	default:
		add(Finding{Check: "user namespaces", OK: true, Detail: "user.max_user_namespaces is " + maxNS})
	}
	if v := readTrim("/proc/sys/kernel/unprivileged_userns_clone"); v == "0" {
		add(Finding{Check: "unprivileged user namespaces", Detail: "kernel.unprivileged_userns_clone is 0", Fix: "as root: sysctl -w kernel.unprivileged_userns_clone=1"})
	}
	if v := readTrim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); v == "1" {
		add(Finding{Check: "AppArmor", Detail: "kernel.apparmor_restrict_unprivileged_userns is 1: user namespaces get no capabilities unless a profile allows them",
			Fix: "as root: give hoist an AppArmor profile with \"userns,\" (as Ubuntu does for podman), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"})
	}

	m, err := Lookup(name, uid, gid)
	switch {
	case err != nil:
		add(Finding{Check: "subordinate ids", Detail: err.Error(), Fix: "check /etc/subuid and /etc/subgid"})
	case m.Single:
		add(Finding{Check: "subordinate ids", Warn: true, Detail: "no range for " + name + " in /etc/subuid and /etc/subgid: containers get one id, their root",
			Fix: "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + name})
	default:
		add(Finding{Check: "subordinate ids", OK: true, Detail: fmt.Sprintf("uids %d-%d, gids %d-%d", m.UIDs[1].Outside, m.UIDs[1].Outside+m.UIDs[1].Size-1, m.GIDs[1].Outside, m.GIDs[1].Outside+m.GIDs[1].Size-1)})
	}
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		add(mapTool(tool, m.Single))
	}
	if p, err := exec.LookPath("nsenter"); err != nil {
		add(Finding{Check: "nsenter", Detail: "not found", Fix: "install util-linux"})
	} else {
		add(Finding{Check: "nsenter", OK: true, Detail: p})
	}

	var u unix.Utsname
	_ = unix.Uname(&u)
	rel := unix.ByteSliceToString(u.Release[:])
	if kernelAtLeast(rel, 5, 11) {
		add(Finding{Check: "overlay in a user namespace", OK: true, Detail: "Linux " + rel + " mounts overlay with userxattr"})
	} else {
		add(Finding{Check: "overlay in a user namespace", Detail: "Linux " + rel + " is older than 5.11, which overlay's userxattr needs", Fix: "use Linux 5.11 or later"})
	}

	if cgroup.IsV2() {
		add(Finding{Check: "cgroups", Warn: true, Detail: "cgroup v2: rootless containers get no cgroup yet; mem_limit, cpus, pids_limit are warnings (up --strict refuses them)"})
	} else {
		add(Finding{Check: "cgroups", Warn: true, Detail: "cgroup v1 gives a user no cgroups: mem_limit, cpus, pids_limit are warnings (up --strict refuses them)",
			Fix: "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) for limits, once hoist uses a delegated subtree"})
	}

	if start := readTrim("/proc/sys/net/ipv4/ip_unprivileged_port_start"); start != "" {
		n, _ := strconv.Atoi(start)
		f := Finding{Check: "published ports", OK: true, Detail: "ports from " + start + " up (net.ipv4.ip_unprivileged_port_start)"}
		if n > 0 {
			f.OK, f.Warn = false, true
			f.Fix = "to publish lower ports, as root: sysctl -w net.ipv4.ip_unprivileged_port_start=80"
		}
		add(f)
	}
	if _, err := os.Stat("/dev/net/tun"); err == nil {
		add(Finding{Check: "tun", OK: true, Detail: "not needed: hoist carries the network without a tun device"})
	}
	return out
}

// mapTool checks newuidmap or newgidmap: installed, and setuid root (or
// with file capabilities), which it needs to write a range's map.
func mapTool(tool string, single bool) Finding {
	p, err := exec.LookPath(tool)
	if err != nil {
		f := Finding{Check: tool, Detail: "not installed", Fix: "as root: apt-get install uidmap (Debian, Ubuntu), dnf install shadow-utils (Fedora)"}
		if single {
			f.Warn, f.Detail = true, "not installed; without a range hoist maps the single id itself"
		}
		return f
	}
	fi, err := os.Stat(p)
	if err != nil {
		return Finding{Check: tool, Detail: err.Error()}
	}
	st := fi.Sys().(*syscall.Stat_t)
	caps, _ := unix.Getxattr(p, "security.capability", make([]byte, 64))
	if (fi.Mode()&os.ModeSetuid != 0 && st.Uid == 0) || caps > 0 {
		return Finding{Check: tool, OK: true, Detail: p}
	}
	return Finding{Check: tool, Detail: p + " is neither setuid root nor has file capabilities", Fix: "as root: chmod u+s " + p + " (or reinstall uidmap)"}
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// kernelAtLeast compares a release such as "6.1.0-18-amd64".
func kernelAtLeast(rel string, major, minor int) bool {
	f := strings.SplitN(rel, ".", 3)
	if len(f) < 2 {
		return false
	}
	ma, _ := strconv.Atoi(f[0])
	mi, _ := strconv.Atoi(strings.TrimFunc(f[1], func(r rune) bool { return r < '0' || r > '9' }))
	return ma > major || (ma == major && mi >= minor)
}

// AnchoredProjects lists the projects with an anchor record in runDir.
func AnchoredProjects(runDir string) []string {
	paths, _ := filepath.Glob(filepath.Join(runDir, "anchors", "*.json"))
	var out []string
	for _, p := range paths {
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".json"))
	}
	return out
}
