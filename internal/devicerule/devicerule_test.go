package devicerule

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "c 1:3 rwm", want: "c 1:3 rwm"},
		{in: "b 8:* r", want: "b 8:* r"},
		{in: "c *:* m", want: "c *:* m"},
		{in: "a", want: "a *:* rwm"},
		{in: "a *:* r", want: "a *:* r"},
		{in: "  c   10:200   rw ", want: "c 10:200 rw"},
		{in: "x 1:3 rwm", err: "type must be a, b or c"},
		{in: "c 1:3", err: "wrong number of fields"},
		{in: "c 1-3 r", err: "MAJOR:MINOR"},
		{in: "c 1:x r", err: `device number "x"`},
		{in: "c 1:3 rwx", err: "letters of rwm"},
		{in: "c 1:3 rr", err: "letters of rwm"},
		{in: "c 4294967296:1 r", err: "device number"},
		{in: "", err: "type must be"},
	} {
		r, err := Parse(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%q) = %v, %v; want error with %q", c.in, r, err, c.err)
			}
			continue
		}
		if err != nil || r.String() != c.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", c.in, r.String(), err, c.want)
		}
	}
}

// Docker's defaults, as dockerd 20.10 writes them to devices.list here,
// without 10:200 (tun; see Defaults).
func TestDefaultsAreDockers(t *testing.T) {
	var got []string
	for _, r := range Defaults() {
		got = append(got, r.String())
	}
	want := "c *:* m|b *:* m|c 1:3 rwm|c 1:5 rwm|c 1:7 rwm|c 1:8 rwm|c 1:9 rwm|c 5:0 rwm|c 5:1 rwm|c 5:2 rwm|c 136:* rwm"
	if strings.Join(got, "|") != want {
		t.Errorf("default rules\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
}
