package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

// Mount targets through the image's symlinks (absolute to a host
// directory, relative with .., dangling) are made inside the rootfs; the
// host directory they name gets nothing.
func TestPrepareTargetStaysInRoot(t *testing.T) {
	base, err := os.MkdirTemp("/tmp", "hoist-mounttarget-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "etc"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"abs":              outside,
		"rel":              "../../../../../../.." + outside,
		"etc/resolv.conf":  "../run/resolved/stub.conf",
		"etc/dangling_dir": outside + "/missing",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		target string
		file   bool
		want   string // where it is made, below root
	}{
		{"/abs/data", false, outside + "/data"},
		{"/rel/sub/data", false, outside + "/sub/data"},
		{"/etc/resolv.conf", true, "/run/resolved/stub.conf"},
		{"/etc/dangling_dir/x", false, outside + "/missing/x"},
	} {
		f, err := prepareTarget(root, tc.target, tc.file)
		if err != nil {
			t.Errorf("%s: %v", tc.target, err)
			continue
		}
		f.Close()
		fi, err := os.Lstat(filepath.Join(root, tc.want))
		if err != nil || fi.IsDir() == tc.file {
			t.Errorf("%s: not made at %s in the root: %v, %v", tc.target, tc.want, fi, err)
		}
	}
	if ents, err := os.ReadDir(outside); err != nil || len(ents) != 0 {
		t.Errorf("the host directory got %v, %v", ents, err)
	}
}
