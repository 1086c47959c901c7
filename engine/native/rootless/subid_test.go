package rootless

import (
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	in := "# comment\nalice:100000:65536\n1002:200000:1000\nbob:300000:65536\nalice:bad:1\nalice:400000:0\n"
	got, err := parseSubIDs(strings.NewReader(in), "alice", 1002)
	if err != nil {
		t.Fatal(err)
	}
	want := []subRange{{100000, 65536}, {200000, 1000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, _ := parseSubIDs(strings.NewReader(in), "carol", 1003); len(got) != 0 {
		t.Fatalf("carol has no range, got %v", got)
	}
}

func TestMappingArgs(t *testing.T) {
	rs := []IDRange{{0, 1002, 1}, {1, 100000, 65536}}
	if got := strings.Join(args(rs), " "); got != "0 1002 1 1 100000 65536" {
		t.Fatalf("args: %q", got)
	}
	if got := text(rs); got != "0 1002 1\n1 100000 65536\n" {
		t.Fatalf("text: %q", got)
	}
}

func TestKeepID(t *testing.T) {
	m := Mapping{
		UIDs: []IDRange{{0, 1002, 1}, {1, 100000, 65536}},
		GIDs: []IDRange{{0, 1003, 1}, {1, 100000, 65536}},
	}
	k, err := m.KeepID(1002, 1003)
	if err != nil {
		t.Fatal(err)
	}
	want := "0 101001 1\n1 100000 1001\n1002 1002 1\n1003 101002 64534\n"
	if got := text(k.UIDs); got != want {
		t.Errorf("uids:\n%swant\n%s", got, want)
	}
	// Every inside id but 0 and the user's keeps its host id.
	for _, id := range []uint32{1, 33, 1001, 1003, 65534, 65536} {
		if outside(k.UIDs, id) != outside(m.UIDs, id) {
			t.Errorf("inside %d moved: %d, was %d", id, outside(k.UIDs, id), outside(m.UIDs, id))
		}
	}
	if _, err := (Mapping{UIDs: m.UIDs[:1], GIDs: m.GIDs[:1], Single: true}).KeepID(1002, 1003); err == nil {
		t.Error("keep-id with one id did not fail")
	}
	if _, err := m.KeepID(70000, 1003); err == nil {
		t.Error("keep-id of a uid beyond the range did not fail")
	}
}

func outside(rs []IDRange, id uint32) uint32 {
	for _, r := range rs {
		if id >= r.Inside && id-r.Inside < r.Size {
			return r.Outside + id - r.Inside
		}
	}
	return 1<<32 - 1
}
