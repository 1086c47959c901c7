package userns

import "testing"

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
