package orchestrate

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseDetachKeys(t *testing.T) {
	for in, want := range map[string]string{"": "\x10\x11", "ctrl-p,ctrl-q": "\x10\x11", "ctrl-a,x": "\x01x", "ctrl-@,ctrl-_": "\x00\x1f"} {
		got, err := ParseDetachKeys(in)
		if err != nil || string(got) != want {
			t.Errorf("ParseDetachKeys(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ctrl-", "ctrl-pp", "ab", "ctrl-1"} {
		if _, err := ParseDetachKeys(bad); err == nil {
			t.Errorf("ParseDetachKeys(%q) took it", bad)
		}
	}
}

// The detach keys end the input and are never passed on; a sequence that
// breaks off is passed on whole, also at the input's end.
func TestDetachReader(t *testing.T) {
	for _, tc := range []struct {
		in, out  string
		detached bool
	}{
		{"hello\x10\x11after", "hello", true},
		{"a\x10b\x10\x10\x11", "a\x10b\x10", true},
		{"plain", "plain", false},
		{"end\x10", "end\x10", false},
	} {
		detached := false
		d := &detachReader{r: strings.NewReader(tc.in), keys: []byte("\x10\x11"), detach: func() { detached = true }}
		var got []byte
		buf := make([]byte, 2)
		var err error
		for {
			var n int
			n, err = d.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if string(got) != tc.out || detached != tc.detached {
			t.Errorf("%q: passed %q (detached %v), want %q (%v)", tc.in, got, detached, tc.out, tc.detached)
		}
		if tc.detached != errors.Is(err, errDetached) || !tc.detached && !errors.Is(err, io.EOF) {
			t.Errorf("%q: ended with %v", tc.in, err)
		}
	}
}
