package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/userns"
)

// ent is a compact tar entry for hand-built layers.
type ent struct {
	typ      byte
	name     string
	link     string
	body     string
	mode     int64
	uid, gid int
	major    int64
	xattrs   map[string]string
}

func tarOf(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: mode, Uid: e.uid, Gid: e.gid,
			Size: int64(len(e.body)), ModTime: time.Unix(1000000000, 0), Devmajor: e.major, Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// listing returns every path under dir except those under skip.
func listing(t *testing.T, dir, skip string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestUnpackRefusesEscapes(t *testing.T) {
	parent := t.TempDir()
	// The escape paths below climb two or three levels from the root, so
	// anything that escapes lands in parent, which we list.
	rel, err := filepath.Rel("/", parent)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		tar  []ent
	}{
		{"dotdot", []ent{{typ: tar.TypeReg, name: "../../x", body: "pwned"}}},
		{"dotdot inside", []ent{{typ: tar.TypeReg, name: "a/../../../x", body: "pwned"}}},
		{"absolute", []ent{{typ: tar.TypeReg, name: "/" + rel + "/x", body: "pwned"}}},
		{"absolute symlink parent", []ent{
			{typ: tar.TypeSymlink, name: "evil", link: "/"},
			{typ: tar.TypeReg, name: "evil/" + rel + "/x", body: "pwned"},
		}},
		{"relative symlink parent", []ent{
			{typ: tar.TypeSymlink, name: "a", link: "../.."},
			{typ: tar.TypeReg, name: "a/x", body: "pwned"},
		}},
		{"symlink parent dir entry", []ent{
			{typ: tar.TypeSymlink, name: "a", link: "../.."},
			{typ: tar.TypeDir, name: "a/x/", mode: 0o755},
		}},
		{"hardlink absolute", []ent{{typ: tar.TypeLink, name: "h", link: "/etc/passwd"}}},
		{"hardlink dotdot", []ent{{typ: tar.TypeLink, name: "h", link: "../../sentinel"}}},
		{"hardlink through symlink", []ent{
			{typ: tar.TypeSymlink, name: "up", link: "../.."},
			{typ: tar.TypeLink, name: "h", link: "up/sentinel"},
		}},
		{"whiteout through symlink", []ent{
			{typ: tar.TypeSymlink, name: "up", link: "../.."},
			{typ: tar.TypeReg, name: "up/.wh.sentinel"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(parent, "a", "b", "root")
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(filepath.Join(parent, "a"))
			before := listing(t, parent, root)
			err := Unpack(context.Background(), bytes.NewReader(tarOf(t, tc.tar...)), root, nil)
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("Unpack = %v, want ErrUnsafe", err)
			}
			if after := listing(t, parent, root); strings.Join(before, "\n") != strings.Join(after, "\n") {
				t.Fatalf("written outside the root:\nbefore %v\nafter  %v", before, after)
			}
			if b, _ := os.ReadFile(filepath.Join(parent, "sentinel")); string(b) != "keep" {
				t.Fatalf("sentinel changed: %q", b)
			}
		})
	}
}

func TestUnpackFileReplacesSymlinkWithoutFollowing(t *testing.T) {
	parent := t.TempDir()
	sentinel := filepath.Join(parent, "sentinel")
	if err := os.WriteFile(sentinel, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	layer := tarOf(t,
		ent{typ: tar.TypeSymlink, name: "x", link: sentinel},
		ent{typ: tar.TypeReg, name: "x", body: "new"},
		ent{typ: tar.TypeSymlink, name: "y", link: "../sentinel"},
		ent{typ: tar.TypeLink, name: "z", link: "y"},
	)
	if err := Unpack(context.Background(), bytes.NewReader(layer), root, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(sentinel); string(b) != "keep" {
		t.Fatalf("sentinel changed: %q", b)
	}
	fi, err := os.Lstat(filepath.Join(root, "x"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("x: %v %v, want a regular file", fi, err)
	}
	// A hardlink to a symlink links the symlink itself.
	if fi, err := os.Lstat(filepath.Join(root, "z")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("z: %v %v, want a symlink", fi, err)
	}
}

func TestUnpackSkipsDevices(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mknod")
	}
	root := t.TempDir()
	var skipped []string
	layer := tarOf(t,
		ent{typ: tar.TypeChar, name: "dev/null", major: 1},
		ent{typ: tar.TypeBlock, name: "dev/sda", major: 8},
		ent{typ: tar.TypeFifo, name: "fifo", mode: 0o640},
	)
	err := Unpack(context.Background(), bytes.NewReader(layer), root, func(name, reason string) {
		skipped = append(skipped, name+": "+reason)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 2 {
		t.Fatalf("skipped = %v, want dev/null and dev/sda", skipped)
	}
	for _, n := range []string{"dev/null", "dev/sda"} {
		if _, err := os.Lstat(filepath.Join(root, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists: %v", n, err)
		}
	}
	if fi, err := os.Lstat(filepath.Join(root, "fifo")); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o640 {
		t.Errorf("fifo: %v %v", fi, err)
	}
}

func TestUnpackMetadataAndWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for chown, mknod and trusted xattrs")
	}
	root := t.TempDir()
	layer := tarOf(t,
		ent{typ: tar.TypeDir, name: "./", mode: 0o755},
		ent{typ: tar.TypeDir, name: "etc/", mode: 0o750, uid: 12, gid: 34},
		ent{typ: tar.TypeReg, name: "etc/suid", body: "x", mode: 0o4755, uid: 12, gid: 34,
			xattrs: map[string]string{"user.note": "hi", "trusted.overlay.redirect": "/etc"}},
		ent{typ: tar.TypeLink, name: "etc/suid2", link: "etc/suid"},
		ent{typ: tar.TypeDir, name: "opq/", mode: 0o755},
		ent{typ: tar.TypeReg, name: "opq/.wh..wh..opq"},
		ent{typ: tar.TypeReg, name: "opq/kept", body: "k"},
		ent{typ: tar.TypeReg, name: "gone/.wh.file"},
		ent{typ: tar.TypeReg, name: ".wh..wh.plnk"},
	)
	var skipped []string
	err := Unpack(context.Background(), bytes.NewReader(layer), root, func(name, reason string) {
		skipped = append(skipped, name+": "+reason)
	})
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, "etc/suid"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o4755 || st.Uid != 12 || st.Gid != 34 || st.Nlink != 2 {
		t.Errorf("etc/suid mode %o uid %d gid %d nlink %d", st.Mode&0o7777, st.Uid, st.Gid, st.Nlink)
	}
	if err := unix.Lstat(filepath.Join(root, "etc"), &st); err != nil || st.Mode&0o7777 != 0o750 || st.Mtim.Sec != 1000000000 {
		t.Errorf("etc: mode %o mtime %d err %v", st.Mode&0o7777, st.Mtim.Sec, err)
	}
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(filepath.Join(root, "etc/suid"), "user.note", buf); err != nil || string(buf[:n]) != "hi" {
		t.Errorf("user.note xattr = %q, %v", buf[:n], err)
	}
	if _, err := unix.Getxattr(filepath.Join(root, "etc/suid"), "trusted.overlay.redirect", buf); err == nil {
		t.Error("trusted.overlay.redirect was set")
	}
	if n, err := unix.Getxattr(filepath.Join(root, "opq"), userns.Opaque(), buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr = %q, %v", buf[:n], err)
	}
	if _, err := os.Stat(filepath.Join(root, "opq/kept")); err != nil {
		t.Error(err)
	}
	if err := unix.Lstat(filepath.Join(root, "gone/file"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout: mode %o rdev %d err %v", st.Mode, st.Rdev, err)
	}
	if len(skipped) != 2 {
		t.Errorf("skipped = %v, want the overlay xattr and plnk", skipped)
	}
}

// A whiteout or a replaced entry removes a directory holding links out of
// the layer (absolute, relative with .., to a directory) without
// following one: what they point at stays.
func TestUnpackRemovalNeverFollowsLinks(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	if err := os.MkdirAll(filepath.Join(outside, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sentinel", "dir/inner"} {
		if err := os.WriteFile(filepath.Join(outside, f), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(parent, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	before := listing(t, parent, root)
	layer := tarOf(t,
		ent{typ: tar.TypeDir, name: "d/", mode: 0o755},
		ent{typ: tar.TypeSymlink, name: "d/abs", link: outside},
		ent{typ: tar.TypeSymlink, name: "d/rel", link: "../../outside/dir"},
		ent{typ: tar.TypeSymlink, name: "d/file", link: filepath.Join(outside, "sentinel")},
		ent{typ: tar.TypeDir, name: "e/", mode: 0o755},
		ent{typ: tar.TypeSymlink, name: "e/up", link: "../../outside"},
		ent{typ: tar.TypeReg, name: ".wh.d"},
		ent{typ: tar.TypeReg, name: "e", body: "a file now"},
	)
	if err := Unpack(context.Background(), bytes.NewReader(layer), root, nil); err != nil {
		t.Fatal(err)
	}
	if after := listing(t, parent, root); strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatalf("removed outside the root:\nbefore %v\nafter  %v", before, after)
	}
	for _, f := range []string{"sentinel", "dir/inner"} {
		if b, _ := os.ReadFile(filepath.Join(outside, f)); string(b) != "keep" {
			t.Fatalf("%s changed: %q", f, b)
		}
	}
	if fi, err := os.Lstat(filepath.Join(root, "e")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("e: %v, %v", fi, err)
	}
}
