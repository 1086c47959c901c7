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
