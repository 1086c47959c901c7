package runtime

import (
	"os"
	"path/filepath"
	"reflect"
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

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1000:\nwheel:x:10:app,other\naudio:x:29:app\n"), 0o644)
	for spec, want := range map[string]execUser{
		"":          {UID: 0, GID: 0, Groups: []int{0}, Home: "/root"},
		"app":       {UID: 1000, GID: 1000, Groups: []int{1000, 10, 29}, Home: "/home/app"},
		"1000":      {UID: 1000, GID: 1000, Groups: []int{1000, 10, 29}, Home: "/home/app"},
		"app:wheel": {UID: 1000, GID: 10, Groups: []int{10}, Home: "/home/app"},
		"4242":      {UID: 4242, GID: 0, Groups: []int{0}, Home: "/"},
		"4242:77":   {UID: 4242, GID: 77, Groups: []int{77}, Home: "/"},
	} {
		got, err := resolveUser(root, spec, nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("resolveUser(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	if _, err := resolveUser(root, "ghost", nil); err == nil {
		t.Error("unknown user name accepted")
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
