package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"abs": "/", "up": "../../../..", "a/rel": "b", "a/esc": "../../../etc", "loop": "loop"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	for in, want := range map[string]string{
		"/":             "",
		"/a/b":          "/a/b",
		"/abs/x":        "/x",
		"/up/x":         "/x",
		"/../../x":      "/x",
		"/a/rel/new/y":  "/a/b/new/y",
		"/a/esc/hosts":  "/etc/hosts",
		"/missing/../a": "/a",
	} {
		got, err := resolveInRoot(root, in)
		if err != nil || got != root+want {
			t.Errorf("resolveInRoot(%q) = %q, %v; want %q", in, got, err, root+want)
		}
	}
	if _, err := resolveInRoot(root, "/loop/x"); err == nil {
		t.Error("symlink loop not detected")
	}
}

func TestCheckSysctl(t *testing.T) {
	for key, ok := range map[string]bool{
		"net.ipv4.ip_forward": true, "kernel.shmmax": true, "fs.mqueue.msg_max": true,
		"kernel.panic": false, "vm.swappiness": false, "net/../../x": false,
	} {
		if err := checkSysctl(key, NetworkNew); (err == nil) != ok {
			t.Errorf("checkSysctl(%q) = %v", key, err)
		}
	}
	if checkSysctl("net.ipv4.ip_forward", NetworkHost) == nil {
		t.Error("network sysctl allowed with the host's network")
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc": true, "A1_b.c-d": true, "0": true, strings.Repeat("a", 128): true,
		"": false, "_a": false, ".a": false, "-a": false, "a/b": false, "a b": false,
		"..": false, "é": false, strings.Repeat("a", 129): false,
	} {
		if validID(id) != want {
			t.Errorf("validID(%q) = %v, want %v", id, !want, want)
		}
	}
}

func TestProcName(t *testing.T) {
	for role, want := range map[string]string{
		roleInit: "hoist-init", "hoist-runtime:supervisor": "hoist-sup", roleCopy: "hoist-copy",
		"hoist-runtime:a-very-long-role-name": "hoist-a-very-lo",
	} {
		if got := procName(role); got != want {
			t.Errorf("procName(%q) = %q, want %q", role, got, want)
		}
	}
}
