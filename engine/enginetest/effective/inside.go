package effective

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hoist-dev/hoist/engine"
)

// insideScript waits (5 s at most) until a process runs the command its
// first argument names (a runtime's init may not have exec'd it or
// forked it yet when the engine says running), then prints, for each
// process of the container, its status, argv, environment, limits,
// working directory, stdin and cgroups, then the mount table, the
// hostname and the sysctls named by its other arguments. Sections start
// with \001 and a header line; busybox sh runs it as the container's
// user, the way anyone exec'ing into it would.
const insideScript = `want=$1; shift
i=0
while [ $i -lt 100 ]; do
  for d in /proc/[0-9]*; do
    case "$(tr '\0' ' ' < $d/cmdline 2>/dev/null)" in "$want "*) break 2;; esac
  done
  sleep 0.05; i=$((i+1))
done
for d in /proc/[0-9]*; do
  printf '\001pid %s\n' "${d#/proc/}"
  printf '\001status\n'; cat $d/status
  printf '\001cmdline\n'; cat $d/cmdline
  printf '\001environ\n'; cat $d/environ
  printf '\001limits\n'; cat $d/limits
  printf '\001cwd\n'; readlink $d/cwd
  printf '\001fd0\n'; readlink $d/fd/0
  printf '\001cgroup\n'; cat $d/cgroup
done 2>/dev/null
printf '\001mounts\n'; cat /proc/self/mounts
printf '\001hostname\n'; hostname
for k in "$@"; do printf '\001sysctl %s\n' "$k"; cat "/proc/sys/$(echo "$k" | tr . /)"; done
`

// runtimeMount tells the mounts every container gets from its runtime,
// which no compose key adds (and Docker's init binary); /dev/shm is
// ShmSize.
func runtimeMount(target string) bool {
	switch target {
	case "/", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/sbin/docker-init":
		return true
	}
	for _, dir := range []string{"/proc", "/dev", "/sys"} {
		if target == dir || strings.HasPrefix(target, dir+"/") {
			return true
		}
	}
	return false
}

// dockerMaskedPaths are Docker's masked paths.
var dockerMaskedPaths = []string{"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}

// insideProc is one process as the script saw it.
type insideProc struct {
	pid      int
	sections map[string][]byte
	status   map[string]string
}

// insideView looks at the running container from inside: its main
// process (pid 1, or pid 1's child when pid 1 is an init), its mounts,
// hostname and sysctls, and its cgroup's limits, read on the host under
// the path the process's /proc/PID/cgroup names. argv0 is the command
// the container runs; ulimits and sysctls are the names to read (the
// row's).
func InsideView(ctx context.Context, ex engine.Execer, id, argv0 string, ulimits, sysctls []string) (View, error) {
	var stdout, stderr bytes.Buffer
	code, err := ex.Exec(ctx, id, engine.ExecSpec{
		Cmd:    append([]string{"/bin/sh", "-c", insideScript, "sh", argv0}, sysctls...),
		Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		return View{}, fmt.Errorf("exec: %w", err)
	}
	if code != 0 {
		return View{}, fmt.Errorf("exec: exit code %d: %s", code, stderr.String())
	}
	procs, global := parseInside(stdout.Bytes())
	var s Settings
	v := View{Blind: map[string]string{}}

	main, init := procs[1], false
	if main == nil {
		return View{}, fmt.Errorf("no pid 1 in the output:\n%s", stdout.String())
	}
	for _, p := range procs {
		if p.status["PPid"] == "1" {
			main, init = p, true
			break
		}
	}
	s.Init = init
	s.Args = splitNul(main.sections["cmdline"])
	hostname := strings.TrimSpace(string(global["hostname"]))
	s.Hostname = hostname
	for _, kv := range splitNul(main.sections["environ"]) {
		k, val, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME":
			s.Home = val
		case "HOSTNAME":
			if val != hostname {
				s.Hostname = fmt.Sprintf("%s (but HOSTNAME=%s)", hostname, val)
			}
		default:
			s.Env = append(s.Env, kv)
		}
	}
	slices.Sort(s.Env)
	s.UID, _ = strconv.Atoi(field(main.status["Uid"], 1))
	s.GID, _ = strconv.Atoi(field(main.status["Gid"], 1))
	for _, g := range strings.Fields(main.status["Groups"]) {
		n, _ := strconv.Atoi(g)
		s.Groups = append(s.Groups, n)
	}
	slices.Sort(s.Groups)
	if s.Caps, err = capsFromMask(main.status["CapBnd"]); err != nil {
		return View{}, err
	}
	if s.CapEff, err = capsFromMask(main.status["CapEff"]); err != nil {
		return View{}, err
	}
	s.NoNewPrivs = main.status["NoNewPrivs"] == "1"
	s.Seccomp = main.status["Seccomp"] == "2"
	s.Cwd = strings.TrimSpace(string(main.sections["cwd"]))
	s.TTY = strings.HasPrefix(strings.TrimSpace(string(main.sections["fd0"])), "/dev/pts/")
	if s.Ulimits, err = parseLimits(string(main.sections["limits"]), ulimits); err != nil {
		return View{}, err
	}
	for _, line := range strings.Split(string(global["mounts"]), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		target, typ, opts := f[1], f[2], strings.Split(f[3], ",")
		switch {
		case target == "/":
			s.ReadonlyRootfs = slices.Contains(opts, "ro")
		case target == "/dev/shm":
			s.ShmSize = mountSize(opts)
		case slices.Contains(dockerMaskedPaths, target):
			// Which of them exist depends on the kernel; any one
			// mounted over says they are masked.
			s.MaskedPaths = true
		case !runtimeMount(target):
			m := Mount{Target: target, Kind: "dir", ReadOnly: slices.Contains(opts, "ro"),
				NoExec: slices.Contains(opts, "noexec"), NoSuid: slices.Contains(opts, "nosuid"), NoDev: slices.Contains(opts, "nodev")}
			if typ == "tmpfs" {
				m.Kind, m.Size = "tmpfs", mountSize(opts)
				for _, o := range opts {
					k, val, _ := strings.Cut(o, "=")
					switch k {
					case "mode":
						n, _ := strconv.ParseUint(val, 8, 32)
						if n != 0o1777 {
							m.Mode = uint32(n)
						}
					case "uid":
						m.UID, _ = strconv.Atoi(val)
					case "gid":
						m.GID, _ = strconv.Atoi(val)
					}
				}
			}
			s.Mounts = append(s.Mounts, m)
		}
	}
	slices.SortFunc(s.Mounts, func(a, b Mount) int { return strings.Compare(a.Target, b.Target) })
	for _, k := range sysctls {
		s.Sysctls = append(s.Sysctls, k+"="+strings.TrimSpace(string(global["sysctl "+k])))
	}
	slices.Sort(s.Sysctls)
	if err := readCgroup(&s, string(main.sections["cgroup"]), v.Blind); err != nil {
		return View{}, err
	}
	v.Settings = s
	return v, nil
}

// parseInside splits the script's output into processes and the rest.
func parseInside(out []byte) (map[int]*insideProc, map[string][]byte) {
	procs := map[int]*insideProc{}
	global := map[string][]byte{}
	var cur *insideProc
	for _, chunk := range bytes.Split(out, []byte{1}) {
		header, body, _ := bytes.Cut(chunk, []byte("\n"))
		h := string(header)
		switch {
		case h == "":
		case strings.HasPrefix(h, "pid "):
			pid, err := strconv.Atoi(strings.TrimPrefix(h, "pid "))
			if err != nil {
				cur = nil
				continue
			}
			cur = &insideProc{pid: pid, sections: map[string][]byte{}, status: map[string]string{}}
			procs[pid] = cur
		case h == "mounts" || h == "hostname" || strings.HasPrefix(h, "sysctl "):
			cur = nil
			global[h] = body
		case cur != nil:
			cur.sections[h] = body
			if h == "status" {
				for _, line := range strings.Split(string(body), "\n") {
					k, val, ok := strings.Cut(line, ":")
					if ok {
						cur.status[k] = strings.TrimSpace(val)
					}
				}
			}
		}
	}
	// A process that ended while the script read it (its own children)
	// has no status.
	for pid, p := range procs {
		if len(p.status) == 0 {
			delete(procs, pid)
		}
	}
	return procs, global
}

func splitNul(b []byte) []string {
	b = bytes.TrimSuffix(bytes.TrimRight(b, "\n"), []byte{0})
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

func field(s string, i int) string {
	f := strings.Fields(s)
	if i < len(f) {
		return f[i]
	}
	return ""
}

// limitNames are /proc/PID/limits's names of Docker's ulimit names.
var limitNames = map[string]string{
	"core": "Max core file size", "cpu": "Max cpu time", "data": "Max data size", "fsize": "Max file size",
	"locks": "Max file locks", "memlock": "Max locked memory", "msgqueue": "Max msgqueue size",
	"nice": "Max nice priority", "nofile": "Max open files", "nproc": "Max processes", "rss": "Max resident set",
	"rtprio": "Max realtime priority", "rttime": "Max realtime timeout", "sigpending": "Max pending signals",
	"stack": "Max stack size", "as": "Max address space",
}

func parseLimits(text string, names []string) ([]string, error) {
	var out []string
	for _, name := range names {
		title, ok := limitNames[name]
		if !ok {
			return nil, fmt.Errorf("ulimit %q: no /proc limits name known", name)
		}
		found := false
		for _, line := range strings.Split(text, "\n") {
			rest, ok := strings.CutPrefix(line, title)
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) < 2 {
				return nil, fmt.Errorf("limits line %q", line)
			}
			num := func(s string) string {
				if s == "unlimited" {
					return "-1"
				}
				return s
			}
			out = append(out, fmt.Sprintf("%s=%s:%s", name, num(f[0]), num(f[1])))
			found = true
			break
		}
		if !found {
			out = append(out, name+"=?")
		}
	}
	slices.Sort(out)
	return out, nil
}

// mountSize reads a tmpfs's size= option (the kernel writes it in k).
func mountSize(opts []string) int64 {
	for _, o := range opts {
		v, ok := strings.CutPrefix(o, "size=")
		if !ok {
			continue
		}
		mult := int64(1)
		switch {
		case strings.HasSuffix(v, "k"):
			mult, v = 1<<10, strings.TrimSuffix(v, "k")
		case strings.HasSuffix(v, "m"):
			mult, v = 1<<20, strings.TrimSuffix(v, "m")
		case strings.HasSuffix(v, "g"):
			mult, v = 1<<30, strings.TrimSuffix(v, "g")
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n * mult
	}
	return 0
}

const cgroupRoot = "/sys/fs/cgroup"

// readCgroup reads the limits of the cgroups a /proc/PID/cgroup names,
// on the host (v1 here; the unified hierarchy when it has controllers).
func readCgroup(s *Settings, text string, blind map[string]string) error {
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	read := func(ctrl, file string) (string, error) {
		p, ok := paths[ctrl]
		if !ok {
			return "", fmt.Errorf("no %q cgroup in %q", ctrl, text)
		}
		b, err := os.ReadFile(filepath.Join(cgroupRoot, ctrl, path.Clean("/"+p), file))
		return strings.TrimSpace(string(b)), err
	}
	limit := func(v string) int64 {
		if v == "max" {
			return 0
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		if n >= 1<<62 {
			return 0 // v1's "unlimited", a page-rounded MaxInt64
		}
		return n
	}
	if ctrls, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil && strings.TrimSpace(string(ctrls)) != "" {
		for _, f := range []string{"memory.max", "memory.swap.max", "cpu.max", "pids.max"} {
			v, err := read("", f)
			if err != nil {
				return err
			}
			switch f {
			case "memory.max":
				s.Memory = limit(v)
			case "memory.swap.max":
				if sw := limit(v); sw != 0 && s.Memory != 0 {
					s.MemorySwap = s.Memory + sw
				}
			case "cpu.max":
				q, p, _ := strings.Cut(v, " ")
				s.CFSQuota, s.CFSPeriod = -1, limit(p)
				if q != "max" {
					s.CFSQuota = limit(q)
				}
			case "pids.max":
				s.PidsLimit = limit(v)
			}
		}
		return nil
	}
	for _, r := range []struct {
		ctrl, file string
		dst        *int64
	}{
		{"memory", "memory.limit_in_bytes", &s.Memory},
		{"memory", "memory.memsw.limit_in_bytes", &s.MemorySwap},
		{"cpu", "cpu.cfs_quota_us", &s.CFSQuota},
		{"cpu", "cpu.cfs_period_us", &s.CFSPeriod},
		{"pids", "pids.max", &s.PidsLimit},
	} {
		v, err := read(r.ctrl, r.file)
		if os.IsNotExist(err) && r.file == "memory.memsw.limit_in_bytes" {
			blind["MemorySwap"] = "the kernel does not account swap (no memory.memsw files)"
			continue
		}
		if err != nil {
			return err
		}
		if r.file == "cpu.cfs_quota_us" {
			*r.dst, _ = strconv.ParseInt(v, 10, 64)
			continue
		}
		*r.dst = limit(v)
	}
	return nil
}
