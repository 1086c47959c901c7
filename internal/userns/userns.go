// Package userns tells whether this process runs in a user namespace
// other than the host's, which is how the native engine runs for a user
// who is not root (engine/native/rootless): it is "root" there, with the
// powers the kernel gives a user namespace's root and no more. The parts
// that must work differently there (overlay's xattrs, cgroups, device
// nodes) ask Inside.
//
// It needs the standard library only, so hoist run's fast path links it.
package userns

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// OpaqueXattr and OpaqueUserXattr mark an overlay lower dir opaque: the
// trusted one as root mounts overlay, the user one for an overlay mounted
// with userxattr, the only kind a user namespace may mount (Linux 5.11).
const (
	OpaqueXattr     = "trusted.overlay.opaque"
	OpaqueUserXattr = "user.overlay.opaque"
)

// inside reads the fact once: a process never changes its user namespace
// (Go cannot join one), so the answer holds for its whole life.
var inside = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	return !IsIdentity(string(b))
})

// Inside reports whether this process runs in a user namespace whose
// mapping is not the host's identity.
func Inside() bool { return inside() }

// IsIdentity reports whether uid_map's text is the initial namespace's
// "0 0 4294967295".
func IsIdentity(uidMap string) bool {
	f := strings.Fields(uidMap)
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// Opaque is the xattr that marks an opaque dir in the lower dirs this
// process unpacks and mounts.
func Opaque() string {
	if Inside() {
		return OpaqueUserXattr
	}
	return OpaqueXattr
}

// GIDMapped reports whether gid is mapped in this process's user
// namespace. A mapping of one id (a user with no subordinate range) maps
// only root, so a mount option naming another group (devpts' gid=5,
// tty) is refused there with EINVAL.
func GIDMapped(gid uint32) bool {
	b, err := os.ReadFile("/proc/self/gid_map")
	if err != nil {
		return true
	}
	return MapHas(string(b), gid)
}

// MapHas reports whether a uid_map or gid_map text maps id (inside).
func MapHas(mapText string, id uint32) bool {
	for _, line := range strings.Split(mapText, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		start, err1 := strconv.ParseUint(f[0], 10, 32)
		size, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 == nil && err2 == nil && uint64(id) >= start && uint64(id)-start < size {
			return true
		}
	}
	return false
}

// SetgroupsDenied reports whether this user namespace refuses setgroups,
// as one mapped by its own user without newgidmap must (and newgidmap
// does for a map of the user's own group alone): the supplementary
// groups stay those the user had on the host, which grant nothing the
// user has not.
func SetgroupsDenied() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(b)) == "deny"
}

// KeepID returns the ids that a rootless project's user namespace under
// userns_mode keep-id gives the user: that namespace nests in the plain
// one (whose 0 is the user; engine/native/rootless/anchor_keepid.go), so
// read from inside, its maps name the user's id as the one inside id
// other than 0 that the parent's 0 is. The plain mapping and the host's
// identity have no such line.
func KeepID() (uid, gid uint32, ok bool) {
	u, okU := parentRootAt("/proc/self/uid_map")
	g, okG := parentRootAt("/proc/self/gid_map")
	return u, g, okU && okG
}

func parentRootAt(file string) (uint32, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[1] == "0" && f[0] != "0" && f[2] == "1" {
			id, err := strconv.ParseUint(f[0], 10, 32)
			if err == nil {
				return uint32(id), true
			}
		}
	}
	return 0, false
}
