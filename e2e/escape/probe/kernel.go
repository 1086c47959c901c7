package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cases maps a case's name to its attempt. Files add theirs in init.
var cases = map[string]func(*opts) result{
	// /proc and /sys: opened for writing only, never written. A write
	// that got through would act on the host (sysrq-trigger reboots it);
	// the open is what Docker's read-only mounts refuse.
	"open_proc_sysrq":        func(*opts) result { return openWrite("/proc/sysrq-trigger") },
	"open_proc_core_pattern": func(*opts) result { return openWrite("/proc/sys/kernel/core_pattern") },
	"open_proc_sys_modprobe": func(*opts) result { return openWrite("/proc/sys/kernel/modprobe") },
	"open_proc_drop_caches":  func(*opts) result { return openWrite("/proc/sys/vm/drop_caches") },
	"open_sys_uevent_helper": func(*opts) result { return openWrite("/sys/kernel/uevent_helper") },
	"open_sys_power_state":   func(*opts) result { return openWrite("/sys/power/state") },
	"open_sys_thp":           func(*opts) result { return openWrite("/sys/kernel/mm/transparent_hugepage/enabled") },
	"open_sys_release_agent": openReleaseAgent,
	// Docker's masked paths: /dev/null over files, an empty read-only
	// tmpfs over directories. "allowed" means host data came back.
	"read_proc_kcore":       func(*opts) result { return readMasked("/proc/kcore") },
	"read_proc_keys":        func(*opts) result { return readMasked("/proc/keys") },
	"read_proc_timer_list":  func(*opts) result { return readMasked("/proc/timer_list") },
	"read_proc_sched_debug": func(*opts) result { return readMasked("/proc/sched_debug") },
	"list_sys_firmware":     func(*opts) result { return listMasked("/sys/firmware") },
	"umount_proc_kcore":     umountKcore,

	"mount_proc":   func(*opts) result { return tryMount("proc", "proc", 0, "") },
	"mount_tmpfs":  func(*opts) result { return tryMount("tmpfs", "tmpfs", 0, "size=1m") },
	"mount_bind":   func(*opts) result { return tryMount("/", "", unix.MS_BIND, "") },
	"mount_cgroup": func(*opts) result { return tryMount("cgroup", "cgroup", 0, "memory") },
	// The cgroup v1 release_agent escape (CVE-2022-0492) needs a mount
	// of a cgroup hierarchy, which an unprivileged container can only
	// get from a user namespace of its own.
	"unshare_userns": func(*opts) result {
		return unshareChild(unix.CLONE_NEWUSER|unix.CLONE_NEWNS|unix.CLONE_NEWCGROUP, true)
	},
	"unshare_mntns": func(*opts) result { return unshareChild(unix.CLONE_NEWNS, false) },

	"keyctl_add_key":       keyAdd,
	"keyctl":               keyctl,
	"bpf_map_create":       bpfMapCreate,
	"perf_event_open":      perfEventOpen,
	"userfaultfd":          userfaultfd,
	"kexec_load":           kexecLoad,
	"open_by_handle_at":    openByHandle,
	"syslog_read":          syslogRead,
	"personality_0x8":      func(*opts) result { return personality(0x8) },
	"personality_0x20008":  func(*opts) result { return personality(0x20008) },
	"personality_query":    func(*opts) result { return personality(0xffffffff) },
	"write_init_exe":       func(*opts) result { return writeExe("/proc/1/exe") },
	"write_init_exe_opath": func(*opts) result { return writeExeOPath("/proc/1/exe") },
	"write_self_exe":       func(*opts) result { return writeExe("/proc/self/exe") },
}

func openWrite(path string) result {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return denied("open "+path, err)
	}
	unix.Close(fd)
	return allowed("opened %s for writing (nothing written)", path)
}

// openReleaseAgent tries every cgroup v1 release_agent the container can
// see; Docker mounts /sys/fs/cgroup read-only.
func openReleaseAgent(*opts) result {
	paths, _ := filepath.Glob("/sys/fs/cgroup/*/release_agent")
	if len(paths) == 0 {
		return denied("glob /sys/fs/cgroup/*/release_agent", unix.ENOENT)
	}
	var last result
	for _, p := range paths {
		last = openWrite(p)
		if last.Outcome == "allowed" {
			return last
		}
	}
	return last
}

func readMasked(path string) result {
	f, err := os.Open(path)
	if err != nil {
		return denied("open "+path, err)
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, err := f.Read(buf)
	if n > 0 {
		return allowed("read %d bytes of %s", n, path)
	}
	if err == nil {
		err = errors.New("no data")
	}
	return result{Outcome: "denied", Errno: errnoName(err), Detail: fmt.Sprintf("read %s: %v (0 bytes)", path, err)}
}

func listMasked(path string) result {
	ents, err := os.ReadDir(path)
	if err != nil {
		return denied("readdir "+path, err)
	}
	if len(ents) > 0 {
		return allowed("%s lists %d entries (%s...)", path, len(ents), ents[0].Name())
	}
	return result{Outcome: "denied", Detail: path + " is empty"}
}

func umountKcore(*opts) result {
	if err := unix.Unmount("/proc/kcore", unix.MNT_DETACH); err != nil {
		return denied("umount /proc/kcore", err)
	}
	return allowed("unmounted the mask over /proc/kcore")
}

func tryMount(source, fstype string, flags uintptr, data string) result {
	dir, err := os.MkdirTemp("", "escape-mnt-")
	if err != nil {
		return result{Outcome: "error", Detail: err.Error()}
	}
	defer os.Remove(dir)
	if err := unix.Mount(source, dir, fstype, flags, data); err != nil {
		return denied("mount "+fstype, err)
	}
	unix.Unmount(dir, unix.MNT_DETACH)
	return allowed("mounted %s %s", fstype, source)
}

// unshareChild starts the probe again in new namespaces: a Go program
// has many threads, and unshare(2) of a user or mount namespace refuses a
// multithreaded caller, so only a new process tells what the container
// may do. With release, the child goes on with the release_agent pattern.
func unshareChild(flags uintptr, release bool) result {
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	args := []string{"nschild"}
	if release {
		args = append(args, "-release")
	}
	cmd := exec.Command(self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	if flags&unix.CLONE_NEWUSER != 0 {
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		return denied("clone", err)
	}
	return allowed("in new namespaces: %s", out)
}

// nsChild runs in the namespaces unshareChild asked for. With -release it
// tries the cgroup v1 mount and its release_agent.
func nsChild(args []string) {
	fs := flag.NewFlagSet("nschild", flag.ExitOnError)
	release := fs.Bool("release", false, "")
	fs.Parse(args)
	fmt.Print("created")
	if !*release {
		return
	}
	dir, err := os.MkdirTemp("", "escape-cg-")
	if err != nil {
		fmt.Printf("; mkdir: %v", err)
		return
	}
	defer os.Remove(dir)

	// rdma is the controller the published exploit mounts (seldom
	// mounted by the host, so free to mount); memory is always there.
	for _, ctrl := range []string{"rdma", "memory"} {
		if err := unix.Mount("cgroup", dir, "cgroup", 0, ctrl); err != nil {
			fmt.Printf("; mount cgroup %s: %v", ctrl, err)
			continue
		}
		fd, err := unix.Open(filepath.Join(dir, "release_agent"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		unix.Unmount(dir, unix.MNT_DETACH)
		if err != nil {
			fmt.Printf("; mounted cgroup %s; open release_agent: %v", ctrl, err)
			continue
		}
		unix.Close(fd)
		fmt.Printf("; mounted cgroup %s; release_agent OPEN FOR WRITING", ctrl)
		return
	}
}

func keyAdd(*opts) result {
	id, err := unix.AddKey("user", "hoist-escape", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
	if err != nil {
		return denied("add_key", err)
	}
	return allowed("add_key: key %d", id)
}

func keyctl(*opts) result {
	id, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
	if err != nil {
		return denied("keyctl", err)
	}
	return allowed("keyctl: session keyring %d", id)
}

func bpfMapCreate(*opts) result {
	// union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size,
	// max_entries (the rest zero).
	var attr [64]byte
	*(*uint32)(unsafe.Pointer(&attr[0])) = unix.BPF_MAP_TYPE_ARRAY
	*(*uint32)(unsafe.Pointer(&attr[4])) = 4
	*(*uint32)(unsafe.Pointer(&attr[8])) = 4
	*(*uint32)(unsafe.Pointer(&attr[12])) = 1
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
	if e != 0 {
		return denied("bpf BPF_MAP_CREATE", e)
	}
	unix.Close(int(fd))
	return allowed("bpf: map fd %d", fd)
}

func perfEventOpen(*opts) result {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
	attr.Size = uint32(unsafe.Sizeof(attr))
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return denied("perf_event_open", err)
	}
	unix.Close(fd)
	return allowed("perf_event_open: fd %d", fd)
}

func userfaultfd(*opts) result {
	fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)
	if e != 0 {
		return denied("userfaultfd", e)
	}
	unix.Close(int(fd))
	return allowed("userfaultfd: fd %d", fd)
}

// kexecLoad asks for no segments and the crash kernel slot: a kernel that
// let it through would only unload a crash kernel, never boot one.
func kexecLoad(*opts) result {
	const kexecOnCrash = 0x1
	_, _, e := unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, kexecOnCrash, 0, 0)
	if e != 0 {
		return denied("kexec_load", e)
	}
	return allowed("kexec_load accepted")
}

func openByHandle(*opts) result {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, "/etc/hostname", 0)
	if err != nil {
		// Any handle will do for the permission check; make one up.
		h = unix.NewFileHandle(1, make([]byte, 8))
	}
	root, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return result{Outcome: "error", Detail: err.Error()}
	}
	defer unix.Close(root)
	fd, err := unix.OpenByHandleAt(root, h, unix.O_RDONLY)
	if err != nil {
		return denied("open_by_handle_at", err)
	}
	unix.Close(fd)
	return allowed("open_by_handle_at: fd %d", fd)
}

func syslogRead(*opts) result {
	buf := make([]byte, 256)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return denied("syslog READ_ALL", err)
	}
	return allowed("syslog: %d bytes of the kernel log", n)
}

// personality sets persona on this thread and sets it back; 0xffffffff
// only queries. setarch(8) (linux32) needs 0x8.
func personality(persona uintptr) result {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, persona, 0, 0)
	if e != 0 {
		return denied(fmt.Sprintf("personality(%#x)", persona), e)
	}
	if persona != 0xffffffff {
		unix.RawSyscall(unix.SYS_PERSONALITY, old, 0, 0)
	}
	return allowed("personality(%#x) = %#x", persona, old)
}

// writeExe opens path (a /proc/<pid>/exe) for writing, without O_TRUNC:
// if that open succeeded against the host's init binary, a truncation
// would destroy it. It writes back the first byte it read, unchanged,
// which needs the same permission as any write.
func writeExe(path string) result {
	target, _ := os.Readlink(path)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return denied("open "+target+" for writing", err)
	}
	defer unix.Close(fd)
	return rewriteFirstByte(fd, path, target)
}

// writeExeOPath is CVE-2019-5736's route: an O_PATH handle on the exe,
// reopened for writing through /proc/self/fd.
func writeExeOPath(path string) result {
	target, _ := os.Readlink(path)
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return denied("open O_PATH "+target, err)
	}
	defer unix.Close(pfd)
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return denied("reopen "+target+" for writing", err)
	}
	defer unix.Close(fd)
	return rewriteFirstByte(fd, path, target)
}

func rewriteFirstByte(fd int, path, target string) result {
	b := make([]byte, 1)
	rfd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Pread(rfd, b, 0)
		unix.Close(rfd)
	}
	if err != nil {
		return allowed("opened %s for writing; nothing written (cannot read it back: %v)", target, err)
	}
	if _, err := unix.Pwrite(fd, b, 0); err != nil {
		return denied("write "+target, err)
	}
	return allowed("opened %s for writing and wrote its first byte back", target)
}
