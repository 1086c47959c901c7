package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func rlimitByName(name string) (int, bool) {
	n, ok := map[string]int{
		"core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
		"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
		"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
		"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
		"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
		"as": unix.RLIMIT_AS,
	}[strings.ToLower(name)]
	return n, ok
}

// applyUlimits sets the limits, clamped to the current hard limits: hoist
// may run without CAP_SYS_RESOURCE, and raising a hard limit would fail.
// syscall.Setrlimit (not unix's) is used so the Go runtime forgets the
// RLIMIT_NOFILE value it would otherwise restore at exec.
func applyUlimits(limits []Ulimit) error {
	for _, u := range limits {
		res, _ := rlimitByName(u.Name)
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(res, &cur); err != nil {
			return fmt.Errorf("get ulimit %s: %w", u.Name, err)
		}
		hard := min(u.Hard, cur.Max)
		soft := min(u.Soft, hard)
		if err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: soft, Max: hard}); err != nil {
			return fmt.Errorf("set ulimit %s=%d:%d: %w", u.Name, soft, hard, err)
		}
	}
	return nil
}

// checkSysctl accepts only sysctls that are namespaced, as Docker does:
// IPC ones always, network ones unless the host's network is used.
func checkSysctl(key string, net NetworkMode) error {
	if strings.Contains(key, "..") || strings.ContainsAny(key, "/ ") || key == "" {
		return fmt.Errorf("sysctl %q is malformed", key)
	}
	ipc := map[string]bool{
		"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
		"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
	}
	switch {
	case ipc[key], strings.HasPrefix(key, "fs.mqueue."):
		return nil
	case strings.HasPrefix(key, "net."):
		if net == NetworkHost {
			return fmt.Errorf("sysctl %q needs a network namespace of its own", key)
		}
		return nil
	}
	return fmt.Errorf("sysctl %q is not namespaced", key)
}

// applySysctls writes the values below procSys (the container's
// /proc/sys, before it is made read-only).
func applySysctls(procSys string, sysctls map[string]string) error {
	for k, v := range sysctls {
		p := filepath.Join(procSys, strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}
