package userns

import (
	"os"
	"path/filepath"
	"testing"
)

func TestIsIdentity(t *testing.T) {
	for in, want := range map[string]bool{
		"         0          0 4294967295\n":                                   true,
		"         0       1001          1\n         1     100000      65536\n": false,
		"0 0 1\n": false,
	} {
		if got := IsIdentity(in); got != want {
			t.Errorf("IsIdentity(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestMapHas(t *testing.T) {
	two := "0 1002 1\n1 100000 65536\n"
	for _, c := range []struct {
		text string
		id   uint32
		want bool
	}{{two, 0, true}, {two, 5, true}, {two, 65536, true}, {two, 65537, false}, {"0 1002 1\n", 5, false}, {"0 1002 1\n", 0, true}, {"", 0, false}} {
		if got := MapHas(c.text, c.id); got != c.want {
			t.Errorf("MapHas(%q, %d) = %v, want %v", c.text, c.id, got, c.want)
		}
	}
}

func TestParentRootAt(t *testing.T) {
	dir := t.TempDir()
	for text, want := range map[string]uint32{
		// A keep-id namespace read from inside: the parent's 0 (the user) is 1002.
		"0 1002 1\n1 1 1001\n1002 0 1\n1003 1003 64534\n": 1002,
		// The plain namespace and the host keep nothing.
		"0 1002 1\n1 100000 65536\n": 0,
		"0 0 4294967295\n":           0,
	} {
		f := filepath.Join(dir, "map")
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		got, ok := parentRootAt(f)
		if got != want || ok != (want != 0) {
			t.Errorf("parentRootAt(%q) = %d, %v; want %d", text, got, ok, want)
		}
	}
}
