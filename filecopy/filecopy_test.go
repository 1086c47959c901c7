package filecopy

import (
	"archive/tar"
	"bytes"
	"io"
	"slices"
	"testing"
)

func TestSplitArg(t *testing.T) {
	for _, tc := range []struct{ arg, svc, path string }{
		{"app:/etc/hosts", "app", "/etc/hosts"},
		{"app:etc", "app", "etc"},
		{"app:", "app", ""},
		{"/abs/x:y", "", "/abs/x:y"},
		{"./file:name.txt", "", "./file:name.txt"},
		{"file.txt", "", "file.txt"},
		{"-", "", "-"},
	} {
		svc, p := SplitArg(tc.arg)
		if svc != tc.svc || p != tc.path {
			t.Errorf("SplitArg(%q) = %q, %q; want %q, %q", tc.arg, svc, p, tc.svc, tc.path)
		}
	}
}

func TestRequestService(t *testing.T) {
	for _, tc := range []struct {
		src, dst, svc string
		into, err     bool
	}{
		{"app:/x", "out", "app", false, false},
		{"-", "app:/x", "app", true, false},
		{"app:/x", "db:/y", "", false, true},
		{"a", "b", "", false, true},
		{"", "app:/x", "", false, true},
	} {
		svc, into, err := Request{Source: tc.src, Destination: tc.dst}.Service()
		if svc != tc.svc || into != tc.into || (err != nil) != tc.err {
			t.Errorf("%q %q: %q, %v, %v", tc.src, tc.dst, svc, into, err)
		}
	}
}

// rebase renames the archive's top entry and what is below it, keeps
// hard links pointing at the renamed entries, and refuses an entry that is
// not below the top.
func TestRebase(t *testing.T) {
	mk := func(names ...string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range names {
			h := &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644}
			if n[len(n)-1] == '/' {
				h.Typeflag = tar.TypeDir
			}
			if n == "src/h" {
				h.Typeflag, h.Linkname = tar.TypeLink, "src/f"
			}
			tw.WriteHeader(h)
		}
		tw.Close()
		return buf.Bytes()
	}
	names := func(r io.Reader) ([]string, error) {
		var out []string
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			out = append(out, h.Name+">"+h.Linkname)
		}
	}
	got, err := names(rebase(bytes.NewReader(mk("src/", "src/f", "src/h", "src/d/")), "dst"))
	if want := []string{"dst/>", "dst/f>", "dst/h>dst/f", "dst/d/>"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("rebase to dst: %v, %v", got, err)
	}
	got, err = names(rebase(bytes.NewReader(mk("src/", "src/f")), "."))
	if want := []string{"./>", "f>"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("rebase to .: %v, %v", got, err)
	}
	got, err = names(rebase(bytes.NewReader(mk("/", "/bin/", "/bin/sh")), "root"))
	if want := []string{"root/>", "root/bin/>", "root/bin/sh>"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("rebase of /: %v, %v", got, err)
	}
	if _, err := names(rebase(bytes.NewReader(mk("src/", "other/f")), "dst")); err == nil {
		t.Error("an entry outside the top was rebased")
	}
}
