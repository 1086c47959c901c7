// Package caps is the native runtime's Linux capabilities: their names,
// Docker's 14 defaults, the set a container is given (For), and applying a
// set to the calling thread. Both sides of the container boundary use it:
// the host to compile the seccomp profile for a container's set, the init
// to reduce its thread to that set before it executes the command. It
// needs nothing but the standard library and x/sys/unix, so the init
// binary stays small.
package caps

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// byName maps capability names (without "CAP_") to numbers.
func byName() map[string]uint {
	return map[string]uint{
		"CHOWN": unix.CAP_CHOWN, "DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
		"DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "FOWNER": unix.CAP_FOWNER,
		"FSETID": unix.CAP_FSETID, "KILL": unix.CAP_KILL, "SETGID": unix.CAP_SETGID,
		"SETUID": unix.CAP_SETUID, "SETPCAP": unix.CAP_SETPCAP,
		"LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
		"NET_BROADCAST": unix.CAP_NET_BROADCAST, "NET_ADMIN": unix.CAP_NET_ADMIN,
		"NET_RAW": unix.CAP_NET_RAW, "IPC_LOCK": unix.CAP_IPC_LOCK, "IPC_OWNER": unix.CAP_IPC_OWNER,
		"SYS_MODULE": unix.CAP_SYS_MODULE, "SYS_RAWIO": unix.CAP_SYS_RAWIO,
		"SYS_CHROOT": unix.CAP_SYS_CHROOT, "SYS_PTRACE": unix.CAP_SYS_PTRACE,
		"SYS_PACCT": unix.CAP_SYS_PACCT, "SYS_ADMIN": unix.CAP_SYS_ADMIN,
		"SYS_BOOT": unix.CAP_SYS_BOOT, "SYS_NICE": unix.CAP_SYS_NICE,
		"SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "SYS_TIME": unix.CAP_SYS_TIME,
		"SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG, "MKNOD": unix.CAP_MKNOD,
		"LEASE": unix.CAP_LEASE, "AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
		"AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "SETFCAP": unix.CAP_SETFCAP,
		"MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE, "MAC_ADMIN": unix.CAP_MAC_ADMIN,
		"SYSLOG": unix.CAP_SYSLOG, "WAKE_ALARM": unix.CAP_WAKE_ALARM,
		"BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "AUDIT_READ": unix.CAP_AUDIT_READ,
		"PERFMON": unix.CAP_PERFMON, "BPF": unix.CAP_BPF,
		"CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
	}
}

// Default is the 14 capabilities Docker grants by default.
func Default() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
}

// Set is a bit set of capability numbers.
type Set uint64

// Has reports whether capability n is in the set.
func (c Set) Has(n uint) bool { return c&(1<<n) != 0 }

// Names returns the set as "CAP_X" names, as the seccomp profile wants them.
func (c Set) Names() []string {
	var out []string
	for name, n := range byName() {
		if c.Has(n) {
			out = append(out, "CAP_"+name)
		}
	}
	return out
}

// lastCap is the highest capability the running kernel knows.
//
// It is read once per process: the loops over capabilities call it for
// every bit.
var lastCap = sync.OnceValue(func() uint {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < 64 {
			return uint(n)
		}
	}
	return unix.CAP_LAST_CAP
})

// All is every capability the running kernel knows.
func All() Set {
	var c Set
	for n := uint(0); n <= lastCap(); n++ {
		c |= 1 << n
	}
	return c
}

// For computes a container's bounding set: Docker's defaults (or every
// capability when privileged), minus drop, plus add; names are taken with
// or without "CAP_", or "ALL". Like Docker, an "ALL" drop happens before
// the adds.
func For(privileged bool, add, drop []string) (Set, error) {
	if privileged {
		return All(), nil
	}
	names := byName()
	parse := func(list []string) (Set, bool, error) {
		var c Set
		all := false
		for _, raw := range list {
			n := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(raw)), "CAP_")
			if n == "ALL" {
				all = true
				continue
			}
			num, ok := names[n]
			if !ok {
				return 0, false, fmt.Errorf("unknown capability %q", raw)
			}
			c |= 1 << num
		}
		return c, all, nil
	}
	set, _, err := parse(Default())
	if err != nil {
		return 0, err
	}
	dropped, dropAll, err := parse(drop)
	if err != nil {
		return 0, err
	}
	added, addAll, err := parse(add)
	if err != nil {
		return 0, err
	}
	if dropAll {
		set = 0
	}
	set &^= dropped
	set |= added
	if addAll {
		set = All()
	}
	return set & All(), nil
}

// Apply clears the ambient set and sets effective/permitted
// to set (empty for a non-root user, as Docker does) with an empty
// inheritable set, for the calling thread.
func Apply(set Set, uid int) error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	eff := set
	if uid != 0 {
		eff = 0
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Effective = uint32(eff)
	data[0].Permitted = uint32(eff)
	data[1].Effective = uint32(eff >> 32)
	data[1].Permitted = uint32(eff >> 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	return nil
}

// Bounding is the calling thread's bounding set.
func Bounding() Set {
	var c Set
	for n := uint(0); n <= lastCap(); n++ {
		if r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0); err == nil && r == 1 {
			c |= 1 << n
		}
	}
	return c
}

// DropBounding removes from the calling thread's bounding set every
// capability not in set.
func DropBounding(set Set) error {
	for n := uint(0); n <= lastCap(); n++ {
		if set.Has(n) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0); err != nil {
			return fmt.Errorf("drop capability %d from bounding set: %w", n, err)
		}
	}
	return nil
}
