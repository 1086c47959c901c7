package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FuzzUnpackStaysInside: a layer of arbitrary entries (names, link targets
// and types chosen by the fuzzer: files, dirs, symlinks, hard links,
// devices, fifos, whiteouts) either unpacks or fails, and writes nothing
// outside the layer dir: a sibling directory and its file stay as they
// were, no file in the layer is a hard link to anything outside, and no
// device node other than an overlay whiteout (0:0) appears.
func FuzzUnpackStaysInside(f *testing.F) {
	f.Add("a\nb/c\n../../x\n/etc/passwd", "x\n../outside/file\n/\nb", []byte{0, 1, 2, 3})
	f.Add("link\nlink/evil", "../outside\n", []byte{2, 0})
	f.Add("d/\nd/.wh..wh..opq\n.wh.d", "", []byte{1, 0, 0})
	f.Add("h\nh2", "../outside/file\nh", []byte{3, 3})
	f.Add("dev\nfifo", "", []byte{4, 5})
	f.Fuzz(func(t *testing.T, names, links string, types []byte) {
		base := t.TempDir()
		root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
		for _, d := range []string{root, outside} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		sentinel := filepath.Join(outside, "file")
		if err := os.WriteFile(sentinel, []byte("untouched"), 0o644); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		nameList, linkList := strings.Split(names, "\n"), strings.Split(links, "\n")
		for i, name := range nameList {
			if i >= 16 || name == "" {
				break
			}
			h := &tar.Header{Name: name, Mode: 0o755, ModTime: time.Unix(1e9, 0), Format: tar.FormatPAX}
			if i < len(linkList) {
				h.Linkname = linkList[i]
			}
			kind := byte(0)
			if i < len(types) {
				kind = types[i] % 6
			}
			switch kind {
			case 0:
				h.Typeflag, h.Size = tar.TypeReg, 3
			case 1:
				h.Typeflag = tar.TypeDir
			case 2:
				h.Typeflag = tar.TypeSymlink
			case 3:
				h.Typeflag = tar.TypeLink
			case 4:
				h.Typeflag, h.Devmajor, h.Devminor = tar.TypeChar, 1, 3 // /dev/null's numbers
			case 5:
				h.Typeflag = tar.TypeFifo
			}
			if tw.WriteHeader(h) != nil {
				return // not representable in tar
			}
			if h.Size > 0 {
				_, _ = tw.Write([]byte("new"))
			}
		}
		if tw.Close() != nil {
			return
		}
		_ = Unpack(context.Background(), bytes.NewReader(buf.Bytes()), root, nil)

		if b, err := os.ReadFile(sentinel); err != nil || string(b) != "untouched" {
			t.Fatalf("outside file changed: %q, %v", b, err)
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(sentinel, &st); err != nil || st.Nlink != 1 {
			t.Fatalf("outside file gained a hard link (nlink %d): %v", st.Nlink, err)
		}
		top, _ := os.ReadDir(base)
		if len(top) != 2 {
			t.Fatalf("layer parent holds %d entries, want root and outside", len(top))
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 1 {
			t.Fatalf("outside dir holds %d entries", len(ents))
		}
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.Type()&fs.ModeDevice != 0 {
				var s syscall.Stat_t
				if syscall.Lstat(p, &s) == nil && s.Rdev != 0 {
					t.Errorf("device node %s (rdev %d) in the layer", p, s.Rdev)
				}
			}
			return nil
		})
	})
}
