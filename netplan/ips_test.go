package netplan

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func addrs(kv ...string) map[string]netip.Addr {
	m := map[string]netip.Addr{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = netip.MustParseAddr(kv[i+1])
	}
	return m
}

func TestAssignIPs(t *testing.T) {
	tests := []struct {
		name     string
		subnet   string
		names    []string
		existing map[string]netip.Addr
		want     string // in names order
	}{
		{"fresh", "172.18.0.0/16", []string{"web-1", "db-1"}, nil, "web-1=172.18.0.2 db-1=172.18.0.3"},
		{"keeps existing, fills lowest", "172.18.0.0/16", []string{"web-1", "db-1", "new-1"}, addrs("db-1", "172.18.0.2"),
			"web-1=172.18.0.3 db-1=172.18.0.2 new-1=172.18.0.4"},
		{"existing outside subnet moves", "172.18.0.0/16", []string{"web-1"}, addrs("web-1", "172.17.0.9"), "web-1=172.18.0.2"},
		{"existing duplicate: first name keeps it", "10.0.0.0/24", []string{"a", "b"}, addrs("a", "10.0.0.7", "b", "10.0.0.7"),
			"a=10.0.0.7 b=10.0.0.2"},
		{"existing on gateway moves", "10.0.0.0/24", []string{"a"}, addrs("a", "10.0.0.1"), "a=10.0.0.2"},
		{"existing on broadcast moves", "10.0.0.0/24", []string{"a"}, addrs("a", "10.0.0.255"), "a=10.0.0.2"},
		{"released names free their address", "10.0.0.0/24", []string{"b"}, addrs("gone", "10.0.0.2"), "b=10.0.0.2"},
		{"ipv4-mapped existing", "10.0.0.0/24", []string{"a"}, addrs("a", "::ffff:10.0.0.9"), "a=10.0.0.9"},
		{"unmasked subnet", "10.0.0.77/24", []string{"a"}, nil, "a=10.0.0.2"},
		{"smallest usable /30", "10.0.0.0/30", []string{"a"}, nil, "a=10.0.0.2"},
		{"ipv6 has no broadcast", "fd00::/126", []string{"a", "b"}, nil, "a=fd00::2 b=fd00::3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AssignIPs(netip.MustParsePrefix(tt.subnet), tt.names, tt.existing)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, n := range tt.names {
				parts = append(parts, fmt.Sprintf("%s=%s", n, got[n]))
			}
			if s := strings.Join(parts, " "); s != tt.want {
				t.Errorf("got  %s\nwant %s", s, tt.want)
			}
			if len(got) != len(tt.names) {
				t.Errorf("%d addresses for %d names", len(got), len(tt.names))
			}
		})
	}
}

func TestAssignIPsErrors(t *testing.T) {
	tests := []struct {
		name   string
		subnet netip.Prefix
		names  []string
		want   string
	}{
		{"full", netip.MustParsePrefix("10.0.0.0/30"), []string{"a", "b"},
			`address allocation: subnet 10.0.0.0/30 is full: no address left for container "b" (2 containers); use a larger subnet`},
		{"no room at all", netip.MustParsePrefix("10.0.0.0/31"), []string{"a"},
			`address allocation: subnet 10.0.0.0/31 is full: no address left for container "a" (1 containers); use a larger subnet`},
		{"top of address space", netip.MustParsePrefix("255.255.255.252/30"), []string{"a", "b"},
			`address allocation: subnet 255.255.255.252/30 is full: no address left for container "b" (2 containers); use a larger subnet`},
		{"duplicate", netip.MustParsePrefix("10.0.0.0/24"), []string{"a", "a"},
			`address allocation: container "a" listed twice for subnet 10.0.0.0/24`},
		{"invalid subnet", netip.Prefix{}, []string{"a"}, `address allocation: invalid subnet invalid Prefix`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AssignIPs(tt.subnet, tt.names, nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got\n%v\nwant\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrAddress) {
				t.Error("not ErrAddress")
			}
		})
	}
}

func TestAssignIPsStable(t *testing.T) {
	subnet := netip.MustParsePrefix("172.20.0.0/16")
	first, err := AssignIPs(subnet, []string{"a", "b", "c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// b goes away, d arrives: a and c stay, d takes b's old address.
	second, err := AssignIPs(subnet, []string{"a", "c", "d"}, first)
	if err != nil {
		t.Fatal(err)
	}
	if second["a"] != first["a"] || second["c"] != first["c"] || second["d"] != first["b"] {
		t.Errorf("first %v, second %v", first, second)
	}
}

func TestGateway(t *testing.T) {
	for in, want := range map[string]string{"172.18.0.0/16": "172.18.0.1", "10.1.2.3/8": "10.0.0.1", "fd00::/64": "fd00::1"} {
		if got := Gateway(netip.MustParsePrefix(in)).String(); got != want {
			t.Errorf("Gateway(%s) = %s, want %s", in, got, want)
		}
	}
}
