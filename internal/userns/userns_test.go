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
