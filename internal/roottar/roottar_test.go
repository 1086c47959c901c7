package roottar

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/inroot"
)

type ent struct {
	name, link, body string
	typ              byte
	mode             int64
	major            int64
}

func tarOf(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Devmajor: e.major, Format: tar.FormatPAX}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// fixture: a destination directory and, beside it, /tmp/<testdir>/outside
// with a sentinel, which hostile archives aim at.
type fixture struct {
	dst, outside string
	before       map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "roottar-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	f := &fixture{dst: filepath.Join(base, "dst"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{f.dst, f.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.outside, "sentinel"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.before = f.snapshot(t)
	return f
}

func (f *fixture) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(f.outside, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		out[p] = info.Mode().String()
		if d.Type().IsRegular() {
			raw, _ := os.ReadFile(p)
			out[p] += " " + string(raw)
		}
		return nil
	})
	return out
}

func (f *fixture) check(t *testing.T) {
	t.Helper()
	if now := f.snapshot(t); !maps.Equal(now, f.before) {
		t.Fatalf("outside changed:\nbefore %v\nafter  %v", f.before, now)
	}
}

func (f *fixture) extract(t *testing.T, opts ExtractOptions, ents ...ent) error {
	t.Helper()
	root, err := inroot.Open(f.dst)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	return Extract(bytes.NewReader(tarOf(t, ents...)), root, ".", opts)
}

var host = ExtractOptions{How: inroot.NoSymlinks, NoChown: true, Host: true}

// Hostile archives landing on the host: entries through a link the
// archive made or the destination held, names with .., absolute names,
// hard links out. Each fails or stays inside; outside keeps its bytes.
func TestExtractOnHostStaysBelowDestination(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ents    func(f *fixture) []ent
		preLink string // a link the destination holds already, to outside
	}{
		{"through its own absolute link", func(f *fixture) []ent {
			return []ent{{name: "l", typ: tar.TypeSymlink, link: f.outside}, {name: "l/x", typ: tar.TypeReg, body: "pwned"}}
		}, ""},
		{"through its own relative link", func(f *fixture) []ent {
			return []ent{{name: "l", typ: tar.TypeSymlink, link: "../outside"}, {name: "l/sentinel", typ: tar.TypeReg, body: "pwned"}}
		}, ""},
		{"a directory over its link", func(f *fixture) []ent {
			return []ent{{name: "l", typ: tar.TypeSymlink, link: f.outside}, {name: "l/", typ: tar.TypeDir, mode: 0o777}, {name: "l/x", typ: tar.TypeReg, body: "pwned"}}
		}, ""},
		{"through a link the destination holds", func(f *fixture) []ent {
			return []ent{{name: "pre/x", typ: tar.TypeReg, body: "pwned"}, {name: "pre/sentinel", typ: tar.TypeReg, body: "pwned"}}
		}, "pre"},
		{"dotdot", func(f *fixture) []ent {
			return []ent{{name: "../outside/x", typ: tar.TypeReg, body: "pwned"}}
		}, ""},
		{"dotdot inside", func(f *fixture) []ent {
			return []ent{{name: "a/../../outside/sentinel", typ: tar.TypeReg, body: "pwned"}}
		}, ""},
		{"absolute", func(f *fixture) []ent {
			return []ent{{name: f.outside + "/x", typ: tar.TypeReg, body: "pwned"}}
		}, ""},
		{"hard link out", func(f *fixture) []ent {
			return []ent{{name: "h", typ: tar.TypeLink, link: "../outside/sentinel"}}
		}, ""},
		{"hard link through a link", func(f *fixture) []ent {
			return []ent{{name: "l", typ: tar.TypeSymlink, link: f.outside}, {name: "h", typ: tar.TypeLink, link: "l/sentinel"}}
		}, ""},
		{"a file over a link", func(f *fixture) []ent {
			return []ent{{name: "l", typ: tar.TypeSymlink, link: f.outside + "/sentinel"}, {name: "l", typ: tar.TypeReg, body: "pwned"}}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.preLink != "" {
				if err := os.Symlink(f.outside, filepath.Join(f.dst, tc.preLink)); err != nil {
					t.Fatal(err)
				}
			}
			err := f.extract(t, host, tc.ents(f)...)
			t.Logf("extract: %v", err)
			f.check(t)
			// Whatever was written is below dst: a hard link to the
			// sentinel would share its inode.
			var st unix.Stat_t
			if unix.Stat(filepath.Join(f.outside, "sentinel"), &st) == nil && st.Nlink != 1 {
				t.Errorf("the sentinel has %d links", st.Nlink)
			}
		})
	}
}

// On the host, setuid and setgid bits are dropped and devices skipped;
// a directory is not replaced by a file nor a file by a directory.
func TestExtractOnHostModes(t *testing.T) {
	f := newFixture(t)
	err := f.extract(t, host,
		ent{name: "suid", typ: tar.TypeReg, body: "x", mode: 0o6755},
		ent{name: "dev", typ: tar.TypeBlock, major: 8},
		ent{name: "d/", typ: tar.TypeDir, mode: 0o750},
		ent{name: "d/f", typ: tar.TypeReg, body: "f"},
	)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(f.dst, "suid"))
	if err != nil || fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("suid: %v, %v", fi.Mode(), err)
	}
	if _, err := os.Lstat(filepath.Join(f.dst, "dev")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a device node was made on the host: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(f.dst, "d")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("d: %v, %v", fi.Mode(), err)
	}
	if err := f.extract(t, host, ent{name: "d", typ: tar.TypeReg, body: "x"}); err == nil || !strings.Contains(err.Error(), "cannot overwrite directory") {
		t.Errorf("file over directory: %v", err)
	}
	if err := f.extract(t, host, ent{name: "suid/", typ: tar.TypeDir}); err == nil || !strings.Contains(err.Error(), "cannot overwrite non-directory") {
		t.Errorf("directory over file: %v", err)
	}
}

// Write never follows a link in the tree it archives, nor reads what is
// not a regular file.
func TestWriteArchivesLinksAsLinks(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(f.dst, "src")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "sub", "file"), []byte("data"), 0o600)
	os.Symlink(f.outside, filepath.Join(src, "abs"))
	os.Symlink("../../outside/sentinel", filepath.Join(src, "sub", "rel"))
	unix.Mkfifo(filepath.Join(src, "fifo"), 0o644)
	root, err := inroot.Open(f.dst)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var buf bytes.Buffer
	if err := Write(&buf, root, "src", inroot.InRoot, "top"); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got[h.Name] = string(h.Typeflag) + h.Linkname + string(body)
	}
	want := map[string]string{
		"top/": "5", "top/abs": "2" + f.outside, "top/fifo": "6", "top/sub/": "5",
		"top/sub/file": "0data", "top/sub/rel": "2../../outside/sentinel",
	}
	if !maps.Equal(got, want) {
		t.Errorf("archive:\n got %v\nwant %v", got, want)
	}
	// A link as the entry itself is archived as the link.
	buf.Reset()
	if err := Write(&buf, root, "src/abs", inroot.InRoot, "abs"); err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(&buf).Next()
	if err != nil || h.Typeflag != tar.TypeSymlink || h.Linkname != f.outside {
		t.Errorf("src/abs: %+v, %v", h, err)
	}
	f.check(t)
}

// TestExtractLeavesNoHalfFile: a file whose bytes stop coming (an archive
// cut short here; a full disk does the same to the write) is removed, not
// left half-written; what came before it stays.
func TestExtractLeavesNoHalfFile(t *testing.T) {
	f := newFixture(t)
	body := strings.Repeat("x", 64<<10)
	b := tarOf(t, ent{name: "whole", typ: tar.TypeReg, body: "whole"}, ent{name: "half", typ: tar.TypeReg, body: body})
	root, err := inroot.Open(f.dst)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	// Cut in the middle of half's bytes.
	cut := bytes.Index(b, []byte(body)) + len(body)/2
	if err := Extract(bytes.NewReader(b[:cut]), root, ".", host); err == nil {
		t.Fatal("an archive cut short extracted without error")
	}
	if _, err := os.Lstat(filepath.Join(f.dst, "half")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the file cut short is there: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(f.dst, "whole")); err != nil || string(got) != "whole" {
		t.Errorf("the whole file: %q %v", got, err)
	}
}
