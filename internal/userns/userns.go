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
