package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
	"github.com/hoist-dev/hoist/engine/native/runtime/seccomp"
	"github.com/hoist-dev/hoist/engine/native/runtime/stdio"
	"github.com/hoist-dev/hoist/engine/native/runtime/user"
	"github.com/hoist-dev/hoist/internal/userns"
	"github.com/hoist-dev/hoist/runspec"
)

// finalConfig is what the last step before execve needs; it is shared by
// the container's command and by Exec.
type finalConfig struct {
	Args     []string `json:"args"`
	Env      []string `json:"env,omitempty"`
	Cwd      string   `json:"cwd,omitempty"`
	User     string   `json:"user,omitempty"`
	GroupAdd []string `json:"group_add,omitempty"`
	Security Security `json:"security"`
	Ulimits  []Ulimit `json:"ulimits,omitempty"`
	// Seccomp is the compiled filter (seccompFor), set unless Security
	// runs the process without seccomp.
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
}

func (s *Spec) final() finalConfig {
	return finalConfig{Args: s.Args, Env: s.Env, Cwd: s.Cwd, User: s.User, GroupAdd: s.GroupAdd, Security: s.Security, Ulimits: s.Ulimits}
}

// runFinal is the role that only applies credentials and executes.
func runFinal() error {
	// The exec helper is visible in the container's pid namespace from
	// its birth, and a process there can read its /proc/<pid>/mountinfo
	// (no ptrace check guards it): the sooner it leaves the host's mount
	// namespace, the less of the host's mount table shows. So it joins
	// before anything else, the configuration included.
	if len(os.Args) > 1 && os.Args[1] == argJoinMountNS {
		if err := joinMountNS(); err != nil {
			return err
		}
	}
	var ec execConfig
	if err := readConfig(&ec); err != nil {
		return err
	}
	if ec.TTY {
		if err := stdio.SetupConsole(fdConsole, ec.Size, true); err != nil {
			return err
		}
		// The terminal belongs to the command's user, as with Docker.
		if u, err := user.Resolve("/", ec.User, ec.GroupAdd); err == nil {
			_ = unix.Fchown(0, u.UID, u.GID)
		}
	}
	return execFinal(ec.finalConfig)
}

// execFinal runs inside the container's namespaces with "/" already the
// container's root. It resolves the user, enters cwd, and then, in this
// order: shrinks the bounding set (needs CAP_SETPCAP), installs seccomp if
// no_new_privs is off (loading a filter without no_new_privs needs
// CAP_SYS_ADMIN, which is about to go; Docker's profile allows the few
// calls that follow), sets groups, gid and uid, sets the final capability
// sets, sets no_new_privs and installs seccomp when asked, and executes.
// With no_new_privs the filter is therefore the very last thing before
// execve; without it only setgroups/setresgid/setresuid/capset/prctl and
// execve run under it.
func execFinal(fc finalConfig) error {
	argv0, env, err := prepareFinal(fc)
	if err != nil {
		return err
	}
	if err := syscall.Exec(argv0, fc.Args, env); err != nil {
		return fmt.Errorf("exec %s: %w", fc.Args[0], err)
	}
	return nil
}

// prepareFinal does all of execFinal but the execve, on this thread, and
// returns the program's path and environment.
func prepareFinal(fc finalConfig) (argv0 string, env []string, err error) {
	if err := applyUlimits(fc.Ulimits); err != nil {
		return "", nil, err
	}
	u, err := user.Resolve("/", fc.User, fc.GroupAdd)
	if err != nil {
		return "", nil, err
	}
	env = withDefaultEnv(fc.Env, u.Home)
	cwd := fc.Cwd
	if cwd == "" {
		cwd = "/"
	}
	_ = os.MkdirAll(cwd, 0o755) // Docker creates a missing working dir; a read-only rootfs may refuse
	if err := unix.Chdir(cwd); err != nil {
		return "", nil, fmt.Errorf("chdir to cwd %q: %w", cwd, err)
	}
	argv0, err = lookPath(fc.Args[0], env)
	if err != nil {
		return "", nil, err
	}
	set, err := fc.Security.capabilities()
	if err != nil {
		return "", nil, err
	}
	// hoist may itself lack capabilities (a VM or container withholding
	// some); asking for them would make capset fail.
	set &= caps.Bounding()
	var prog *seccomp.Program
	if !fc.Security.Privileged && !fc.Security.SeccompUnconfined {
		// Compiled by the parent; never run without the filter.
		if prog = fc.Seccomp; prog == nil || prog.Len() == 0 {
			return "", nil, errors.New("seccomp: the configuration has no compiled filter")
		}
	}
	if err := markFDsCloexec(); err != nil {
		return "", nil, err
	}
	if err := caps.DropBounding(set); err != nil {
		return "", nil, err
	}
	if prog != nil && !fc.Security.NoNewPrivileges {
		if err := prog.Install(); err != nil {
			return "", nil, err
		}
	}
	if err := setIDs(u); err != nil {
		return "", nil, err
	}
	if err := caps.Apply(set, u.UID); err != nil {
		return "", nil, err
	}
	if fc.Security.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", nil, fmt.Errorf("set no_new_privs: %w", err)
		}
		if prog != nil {
			if err := prog.Install(); err != nil {
				return "", nil, err
			}
		}
	}
	return argv0, env, nil
}

// setIDs changes groups and ids of this thread only (raw syscalls), which
// is the thread that executes the command.
func setIDs(u user.User) error {
	gids := make([]uint32, len(u.Groups))
	for i, g := range u.Groups {
		gids[i] = uint32(g)
	}
	var p uintptr
	if len(gids) > 0 {
		p = uintptr(unsafePointer(&gids[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), p, 0); e != 0 && (e != unix.EPERM || !userns.SetgroupsDenied()) {
		return fmt.Errorf("setgroups %v: %w", u.Groups, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	return nil
}

// markFDsCloexec makes every descriptor above 2 close-on-exec, so nothing
// hoist holds (pipes, the binary copy, Go's epoll) reaches the command.
func markFDsCloexec() error {
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("close_range: %w", err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range ents {
		var fd int
		if _, err := fmt.Sscanf(e.Name(), "%d", &fd); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

func withDefaultEnv(env []string, home string) []string {
	out := append([]string{}, env...)
	has := func(k string) bool {
		for _, e := range out {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		out = append(out, "PATH="+runspec.DefaultPath)
	}
	if !has("HOME") && home != "" {
		out = append(out, "HOME="+home)
	}
	return out
}

// lookPath finds name in the container's PATH (from env), as execvp would.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	p := runspec.DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			p = v
		}
	}
	for _, dir := range filepath.SplitList(p) {
		if dir == "" {
			dir = "."
		}
		cand := filepath.Join(dir, name)
		fi, err := os.Stat(cand)
		if err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func unsafePointer(p *uint32) unsafe.Pointer { return unsafe.Pointer(p) }
