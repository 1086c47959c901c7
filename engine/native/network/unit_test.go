package network

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestNames(t *testing.T) {
	b1, b2 := bridgeName("a", "a_default"), bridgeName("b", "a_default")
	v := vethName("a", "a-web-1", "a_default")
	for _, n := range []string{b1, b2, v} {
		if len(n) != 15 {
			t.Errorf("%q: %d bytes, want 15", n, len(n))
		}
	}
	if b1 == b2 || !strings.HasPrefix(b1, "hoist-") || !strings.HasPrefix(v, "hv") {
		t.Errorf("bridges %q %q, veth %q", b1, b2, v)
	}
	if bridgeName("a", "a_default") != b1 {
		t.Error("bridge name is not stable")
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("x", 300)} {
		if checkName("project", bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestRenderHosts(t *testing.T) {
	self := ctrState{Container: "p-web-1", Hostname: "web1",
		Links: []linkState{
			{Network: "p_front", IP: addr("172.18.0.2"), Aliases: []string{"web"}},
			{Network: "p_back", IP: addr("172.19.0.2"), Aliases: []string{"web"}},
		},
		ExtraHosts: []hostEntry{{Name: "host.docker.internal", IP: addr("172.18.0.1")}}}
	all := []ctrState{
		{Container: "p-web-2", Links: []linkState{{Network: "p_front", IP: addr("172.18.0.3"), Aliases: []string{"web"}}}},
		self,
		{Container: "p-db-1", Links: []linkState{{Network: "p_back", IP: addr("172.19.0.3"), Aliases: []string{"db", "database"}}}},
		{Container: "p-other-1", Links: []linkState{{Network: "p_elsewhere", IP: addr("172.20.0.2")}}},
	}
	got := string(renderHosts(self, all))
	got = got[len(hostsHeader):]
	want := `172.18.0.1	host.docker.internal
172.18.0.2	web1 p-web-1 web
172.19.0.2	p-web-1 web
172.18.0.3	p-web-2 web
172.19.0.3	p-db-1 db database
`
	if got != want {
		t.Errorf("hosts:\n%s\nwant\n%s", got, want)
	}
}

func TestParseExtraHosts(t *testing.T) {
	gw := addr("172.18.0.1")
	got, err := parseExtraHosts([]string{"a:1.2.3.4", "b=host-gateway", "c=::1", "d:[fe80::1]"}, gw)
	if err != nil {
		t.Fatal(err)
	}
	want := []hostEntry{{"a", addr("1.2.3.4")}, {"b", gw}, {"c", addr("::1")}, {"d", addr("fe80::1")}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"noip", ":1.2.3.4", "x:notanip"} {
		if _, err := parseExtraHosts([]string{bad}, gw); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNetRules(t *testing.T) {
	n := netState{Name: "p_default", Project: "p", Bridge: "hoist-abc", Subnet: netip.MustParsePrefix("172.18.0.0/16")}
	rules := netRules(n)
	post := 0
	for _, r := range rules {
		if r.Chain != nil {
			post++
		}
	}
	if post != 1 || len(rules) != 5 {
		t.Errorf("non-internal: %d rules, %d postrouting", len(rules), post)
	}
	n.Internal = true
	for _, r := range netRules(n) {
		if r.Chain != nil {
			t.Error("internal network has a masquerade rule")
		}
	}
	if b := broadcast4(n.Subnet); netip.AddrFrom4(b) != addr("172.18.255.255") {
		t.Errorf("broadcast %v", b)
	}
}

func TestRetryDump(t *testing.T) {
	calls := 0
	got, err := retryDump(func() (int, error) {
		calls++
		if calls < 3 {
			return 0, netlink.ErrDumpInterrupted
		}
		return 42, nil
	})
	if got != 42 || err != nil || calls != 3 {
		t.Errorf("got %d, %v after %d calls", got, err, calls)
	}
	boom := errors.New("boom")
	if _, err := retryDump(func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("another error is returned as is: %v", err)
	}
}
