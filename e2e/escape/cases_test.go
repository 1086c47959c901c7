package escape

// The table of attempts. A row is one probe case from some ways into a
// container; a case can have several rows when its expectation differs
// between ways (a terminal's own cases, with and without one).

// way is a way into a container.
type way string

const (
	wService     way = "service"      // the service's own command, after up -d
	wExec        way = "exec"         // exec -T, from the user's terminal
	wExecTTY     way = "exec-tty"     // exec with a terminal
	wRun         way = "run"          // run --rm -T, from the user's terminal
	wBuild       way = "build"        // a RUN step of hoist build
	wHostnet     way = "hostnet"      // a network_mode: host service's command
	wHostnetExec way = "hostnet-exec" // exec -T into it
)

// box ways: the bridge-networked service with init: true, and the build.
var (
	boxWays   = []way{wService, wExec, wExecTTY, wRun, wBuild}
	noTTYWays = []way{wService, wExec, wRun, wBuild}
	// Ways with an init process of the engine's as pid 1 (init: true). A
	// RUN step has none: its pid 1 is the step's command, from the image.
	initWays = []way{wService, wExec, wExecTTY, wRun}
	// Ways with a result directory shared with the host, which the
	// background reader needs to learn that hoist returned and to leave
	// its capture; a RUN step's processes end with the step anyway.
	bgWays = []way{wService, wExec, wExecTTY, wRun}
	// Ways into a project's network. A RUN step is in the builder's
	// network (dockerd's default bridge; the host's for the native
	// builder), not a project's: compared with docker only.
	projectNetWays = []way{wService, wExec, wExecTTY, wRun}
	// The engines' sockets, from every network namespace a container may
	// be in, the host's (network_mode: host) included: that is what the
	// hostnet ways are for; the rest of their confinement is box's, so
	// they run only these. exec with a terminal is left out: it reaches
	// the same namespaces as exec -T.
	sockWays = []way{wService, wExec, wRun, wBuild, wHostnet, wHostnetExec}
)

type escapeCase struct {
	name string // the probe's case
	ways []way
	// want, when set, is the errno both engines must give: Docker's
	// default behaviour, which the native engine copies exactly.
	want string
	// control: must be allowed on both engines. It proves that the
	// attempt works where nothing forbids it, so that its denials
	// elsewhere are the engine's doing, not a broken probe.
	control bool
	// equal: a compatibility case: the native engine must allow what
	// docker allows, and deny what it denies.
	equal bool
	// nativeDeny: the native engine must deny it whatever docker does
	// (project isolation: dockerd here runs with --iptables=false, so it
	// does not isolate projects' bridges).
	nativeDeny bool
	// judged: the outcome is the test's verdict from the host side (see
	// bgVerdict), not a line of the probe.
	judged bool
}

var escapeCases = []escapeCase{
	// Devices. Docker lets a container mknod any device but open only
	// those on its list; the block device is a loop device the test
	// attached on the host, holding a secret.
	{name: "mknod_blk_loop", ways: boxWays},
	{name: "read_blk_loop", ways: boxWays, want: "EPERM"},
	{name: "write_blk_loop", ways: boxWays, want: "EPERM"},
	{name: "open_chr_null", ways: boxWays, control: true},
	{name: "open_chr_userfaultfd", ways: boxWays, want: "EPERM"},
	{name: "open_chr_kmsg", ways: boxWays, want: "EPERM"},
	{name: "open_chr_fuse", ways: boxWays, want: "EPERM"},
	{name: "open_chr_loopctl", ways: boxWays, want: "EPERM"},
	{name: "open_chr_tty1", ways: boxWays, want: "EPERM"},
	// On Docker's list; the native engine may leave it out.
	{name: "open_chr_tun", ways: boxWays},

	// The user's terminal. Without a terminal of its own, a container's
	// stdio are pipes (ENOTTY) and it has no controlling terminal (ENXIO).
	{name: "tiocsti_fd0", ways: noTTYWays, want: "ENOTTY"},
	{name: "tiocsti_fd1", ways: noTTYWays, want: "ENOTTY"},
	{name: "tiocsti_fd2", ways: noTTYWays, want: "ENOTTY"},
	{name: "open_devtty", ways: noTTYWays, want: "ENXIO"},
	{name: "tiocsti_devtty", ways: noTTYWays, want: "ENXIO"},
	// With one, it is the container's own pty: typing into it is fine
	// (and must not reach the user's: checked from the host).
	{name: "tiocsti_fd0", ways: []way{wExecTTY}, control: true},
	{name: "tiocsti_fd1", ways: []way{wExecTTY}, control: true},
	{name: "tiocsti_fd2", ways: []way{wExecTTY}, control: true},
	{name: "open_devtty", ways: []way{wExecTTY}, control: true},
	{name: "tiocsti_devtty", ways: []way{wExecTTY}, control: true},
	// A child left behind reads the terminal after hoist returned.
	{name: "bg_read", ways: bgWays, judged: true},

	// /proc and /sys: read-only, masked. Where the host's kernel has the
	// file (not every kernel has sysrq-trigger, modprobe, uevent_helper,
	// kcore or sched_debug), Docker gives EROFS or an empty read; where it
	// has not, ENOENT: no errno is required of those.
	{name: "open_proc_sysrq", ways: boxWays},
	{name: "open_proc_core_pattern", ways: boxWays, want: "EROFS"},
	{name: "open_proc_drop_caches", ways: boxWays, want: "EROFS"},
	{name: "open_proc_sys_modprobe", ways: boxWays},
	{name: "open_sys_uevent_helper", ways: boxWays},
	{name: "open_sys_power_state", ways: boxWays, want: "EROFS"},
	{name: "open_sys_thp", ways: boxWays, want: "EROFS"},
	{name: "open_sys_release_agent", ways: boxWays},
	{name: "read_proc_kcore", ways: boxWays},
	{name: "read_proc_keys", ways: boxWays},
	{name: "read_proc_timer_list", ways: boxWays},
	{name: "read_proc_sched_debug", ways: boxWays},
	{name: "list_sys_firmware", ways: boxWays},
	{name: "umount_proc_kcore", ways: boxWays, want: "EPERM"},

	// Mounts and namespaces (the cgroup v1 release_agent pattern needs
	// one of them).
	{name: "mount_proc", ways: boxWays, want: "EPERM"},
	{name: "mount_tmpfs", ways: boxWays, want: "EPERM"},
	{name: "mount_bind", ways: boxWays, want: "EPERM"},
	{name: "mount_cgroup", ways: boxWays, want: "EPERM"},
	{name: "unshare_userns", ways: boxWays, want: "EPERM"},
	{name: "unshare_mntns", ways: boxWays, want: "EPERM"},

	// System calls Docker's seccomp profile refuses.
	{name: "keyctl_add_key", ways: boxWays, want: "EPERM"},
	{name: "keyctl", ways: boxWays, want: "EPERM"},
	{name: "bpf_map_create", ways: boxWays, want: "EPERM"},
	{name: "perf_event_open", ways: boxWays, want: "EPERM"},
	{name: "userfaultfd", ways: boxWays, want: "EPERM"},
	{name: "kexec_load", ways: boxWays, want: "EPERM"},
	{name: "open_by_handle_at", ways: boxWays, want: "EPERM"},
	{name: "syslog_read", ways: boxWays, want: "EPERM"},
	// ... and the personalities it allows (setarch linux32).
	// A 64-bit argument is judged whole: moby's newer profile bounds
	// socket's domain, and hoist's filter keeps the syscall number
	// through failed argument tests. Docker 20.10's profile allows any
	// domain but 40 as a 64-bit value, so the high word passes there.
	{name: "socket_vsock_hiword", ways: boxWays, nativeDeny: true},
	{name: "personality_0x8", ways: boxWays, equal: true},
	{name: "personality_0x20008", ways: boxWays, equal: true},
	{name: "personality_query", ways: boxWays, equal: true},

	// The init's binary (CVE-2019-5736) and the probe's own, both host
	// files; hashed on the host before and after.
	// The container's /dev nodes are its own: its root may chmod them,
	// and the host's stay as they were (checked on the host side).
	{name: "chmod_dev_null", ways: boxWays, control: true},
	// Every tmpfs is noexec (the service has one at /scratch; a RUN
	// step has none).
	{name: "exec_tmpfs", ways: initWays, want: "EACCES"},
	{name: "write_init_exe", ways: initWays},
	{name: "write_init_exe_opath", ways: initWays},
	// In a build the probe is the image's copy, not a host file.
	{name: "write_self_exe", ways: initWays},

	// Another project's container, and the engines' sockets.
	{name: "tcp_peer", ways: projectNetWays, nativeDeny: true},
	{name: "tcp_peer", ways: []way{wBuild}},
	// The host's 127.0.0.1 (a listener of the test's): a container's, and
	// a RUN step's, 127.0.0.1 is its own loopback on both engines, where
	// nothing listens (ECONNREFUSED); the host side also checks that no
	// such way reached the listener. From the host's network namespace it
	// is reached: the control that the listener answers.
	{name: "tcp_hostlo", ways: boxWays, want: "ECONNREFUSED"},
	{name: "tcp_hostlo", ways: []way{wHostnet, wHostnetExec}, control: true},
	{name: "supervisor_sock", ways: sockWays, want: "ENOENT"},
	{name: "docker_sock", ways: sockWays, want: "ENOENT"},
	{name: "containerd_sock", ways: sockWays, want: "ENOENT"},
	{name: "abstract_sockets", ways: sockWays},
}

// casesFor lists the probe cases to run from w, each once, in table
// order.
func casesFor(w way) []string {
	var names []string
	seen := map[string]bool{}
	for _, c := range escapeCases {
		if seen[c.name] || !hasWay(c.ways, w) {
			continue
		}
		seen[c.name] = true
		names = append(names, c.name)
	}
	return names
}

func hasWay(ways []way, w way) bool {
	for _, x := range ways {
		if x == w {
			return true
		}
	}
	return false
}
