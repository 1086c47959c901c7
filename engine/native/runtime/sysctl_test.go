package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// An image whose /proc is a symlink to a host path must not get hoist to
// write that host path: the sysctls of a container are written through
// the procfs mounted for it, resolved inside its root as the mount was.
// They were written through the unresolved "<rootfs>/proc/sys" path, so
// the host followed the image's link and created (or truncated) the file
// <link target>/sys/<key> on the host, as root, with the compose file's
// value. runc writes sysctls inside the container, after pivot_root.
func TestSysctlsAreNotWrittenThroughAnImageLink(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	host := filepath.Join(t.TempDir(), "host")
	if err := os.MkdirAll(filepath.Join(host, "sys/net/ipv4"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(rootfs, "proc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, filepath.Join(rootfs, "proc")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, Spec{
		Rootfs:  rootfs,
		Network: Network{Mode: NetworkNew},
		Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
		Args:    []string{"cat", "/proc/sys/net/ipv4/ip_forward"},
	})
	if b, err := os.ReadFile(filepath.Join(host, "sys/net/ipv4/ip_forward")); err == nil {
		t.Errorf("the sysctl was written on the host, in %s: %q", host, b)
	}
	if code != 0 || out != "1\n" {
		t.Errorf("in the container: exit %d, %q %s; want the sysctl set", code, out, errOut)
	}
}
