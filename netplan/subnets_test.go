package netplan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func renderSubnets(m map[string]netip.Prefix) string {
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, k+" "+m[k].String())
	}
	return strings.Join(lines, "\n")
}

func TestAllocateSubnets(t *testing.T) {
	req := func(name, subnet string) SubnetRequest {
		r := SubnetRequest{Name: name}
		if subnet != "" {
			r.Subnet = netip.MustParsePrefix(subnet)
		}
		return r
	}
	tests := []struct {
		name  string
		reqs  []SubnetRequest
		taken []netip.Prefix
		want  string
	}{
		{"first pool subnet", []SubnetRequest{req("p_default", "")}, nil, "p_default 172.17.0.0/16"},
		{"skips docker0 and routes", []SubnetRequest{req("p_default", "")}, prefixes("172.17.0.0/16", "172.18.5.0/24"),
			"p_default 172.19.0.0/16"},
		{"name order, not input order", []SubnetRequest{req("p_b", ""), req("p_a", "")}, nil,
			"p_a 172.17.0.0/16\np_b 172.18.0.0/16"},
		{"explicit kept and stepped around", []SubnetRequest{req("p_a", ""), req("p_z", "172.17.0.0/16")}, nil,
			"p_a 172.18.0.0/16\np_z 172.17.0.0/16"},
		{"explicit is masked", []SubnetRequest{req("p_a", "10.1.2.3/16")}, nil, "p_a 10.1.0.0/16"},
		{"wide route blocks many", []SubnetRequest{req("p_a", "")}, prefixes("172.16.0.0/12"), "p_a 192.168.0.0/20"},
		{"192.168 in /20 steps", []SubnetRequest{req("p_a", ""), req("p_b", "")}, prefixes("172.16.0.0/12", "192.168.0.0/24"),
			"p_a 192.168.16.0/20\np_b 192.168.32.0/20"},
		{"default route blocks nothing once HostRoutes drops it", []SubnetRequest{req("p_a", "")}, nil, "p_a 172.17.0.0/16"},
		{"ipv6 taken does not matter", []SubnetRequest{req("p_a", "")}, prefixes("fe80::/64"), "p_a 172.17.0.0/16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AllocateSubnets(tt.reqs, tt.taken)
			if err != nil {
				t.Fatal(err)
			}
			if s := renderSubnets(got); s != tt.want {
				t.Errorf("got\n%s\nwant\n%s", s, tt.want)
			}
		})
	}
}

func TestAllocateSubnetsErrors(t *testing.T) {
	full := prefixes("172.16.0.0/12", "192.168.0.0/16")
	tests := []struct {
		name  string
		reqs  []SubnetRequest
		taken []netip.Prefix
		want  string
	}{
		{"explicit on a host route",
			[]SubnetRequest{{Name: "p_a", Subnet: netip.MustParsePrefix("192.168.1.0/24")}}, prefixes("10.0.0.0/8", "192.168.0.0/16"),
			`subnet allocation: network "p_a": subnet 192.168.1.0/24 overlaps 192.168.0.0/16, already in use on this host (a route or another network); choose another ipam subnet, or remove it to get a free one`},
		{"explicit overlap each other",
			[]SubnetRequest{{Name: "p_b", Subnet: netip.MustParsePrefix("10.0.0.0/24")}, {Name: "p_a", Subnet: netip.MustParsePrefix("10.0.0.0/16")}}, nil,
			`subnet allocation: network "p_b": subnet 10.0.0.0/24 overlaps subnet 10.0.0.0/16 of network "p_a"; give each network its own subnet`},
		{"pool exhausted",
			[]SubnetRequest{{Name: "p_a"}, {Name: "p_b"}}, full,
			`subnet allocation: network "p_a": no free subnet left in the default pools (172.17.0.0/16-172.31.0.0/16, 192.168.0.0/16 in /20s); remove unused networks or set an ipam subnet
subnet allocation: network "p_b": no free subnet left in the default pools (172.17.0.0/16-172.31.0.0/16, 192.168.0.0/16 in /20s); remove unused networks or set an ipam subnet`},
		{"duplicate name", []SubnetRequest{{Name: "p_a"}, {Name: "p_a"}}, nil, `subnet allocation: network "p_a" requested twice`},
		{"empty name", []SubnetRequest{{}}, nil, `subnet allocation: network with no name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AllocateSubnets(tt.reqs, tt.taken)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got\n%v\nwant\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrSubnet) {
				t.Error("not ErrSubnet")
			}
		})
	}
}

func TestAllocateSubnetsPoolSize(t *testing.T) {
	// 15 /16s from 172.17-172.31 plus 16 /20s in 192.168.0.0/16.
	var reqs []SubnetRequest
	for i := range 31 {
		reqs = append(reqs, SubnetRequest{Name: fmt.Sprintf("n%02d", i)})
	}
	got, err := AllocateSubnets(reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got["n00"].String() != "172.17.0.0/16" || got["n14"].String() != "172.31.0.0/16" ||
		got["n15"].String() != "192.168.0.0/20" || got["n30"].String() != "192.168.240.0/20" {
		t.Errorf("unexpected pool walk:\n%s", renderSubnets(got))
	}
	if _, err := AllocateSubnets(append(reqs, SubnetRequest{Name: "n31"}), nil); err == nil {
		t.Error("32nd network got a subnet")
	}
}

func TestSubnetRequests(t *testing.T) {
	p := load(t, `
services:
  web: {image: x, networks: [front, back]}
  db: {image: x}
networks:
  front:
    ipam:
      config:
        - subnet: "2001:db8::/64"
        - subnet: 10.5.0.1/24
  back:
    internal: true
  ext:
    external: true
  named:
    name: custom-name
`)
	got, err := SubnetRequests(p)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%s %v", r.Name, r.Subnet))
	}
	want := "custom-name invalid Prefix\nproj_back invalid Prefix\nproj_default invalid Prefix\nproj_front 10.5.0.0/24"
	if s := strings.Join(lines, "\n"); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
}

func TestSubnetRequestsInvalid(t *testing.T) {
	p := load(t, `
services:
  web: {image: x, networks: [front]}
networks:
  front:
    ipam:
      config:
        - subnet: 10.5.0.0
`)
	_, err := SubnetRequests(p)
	want := `subnet allocation: network "front": invalid ipam subnet "10.5.0.0"; use CIDR notation such as 172.28.0.0/16`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

const routeFixture = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n" +
	"eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0                                                                               \n" +
	"eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0                                                                               \n" +
	"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                               \n" +
	"tun0\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"

const route6Fixture = `fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fd00abcd000000000000000000000000 30 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`

func TestParseRoutes(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("fixture is from a little-endian host")
	}
	got, err := parseRoutes4(strings.NewReader(routeFixture))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got); s != "[192.168.0.0/24 172.17.0.0/16 10.0.0.0/8]" {
		t.Errorf("IPv4 routes: %s", s)
	}
	got, err = parseRoutes6(strings.NewReader(route6Fixture))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got); s != "[fe80::/64 fd00:abcd::/48 ::1/128]" {
		t.Errorf("IPv6 routes: %s", s)
	}
}

func TestParseRoutesErrors(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) error
		in    string
		want  string
	}{
		{"v4 short line", parse4, "Iface\tDestination\neth0\t00000000\n", "line 2: 2 fields, want at least 8"},
		{"v4 bad hex", parse4, "h\neth0 zz 0 0 0 0 0 00FFFFFF\n", `line 2: bad destination "zz" or mask "00FFFFFF"`},
		{"v4 holey mask", parse4, "h\neth0 00000000 0 0 0 0 0 00FF00FF\n", `line 2: mask "00FF00FF" is not contiguous`},
		{"v6 short line", parse6, "fe80 40\n", "line 1: 2 fields, want 10"},
		{"v6 bad prefix", parse6, strings.Replace(route6Fixture[:strings.Index(route6Fixture, "\n")], " 40 ", " 99 ", 1),
			`line 1: bad destination "fe800000000000000000000000000000"/"99"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse(tt.in); err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}

func parse4(s string) error { _, err := parseRoutes4(strings.NewReader(s)); return err }
func parse6(s string) error { _, err := parseRoutes6(strings.NewReader(s)); return err }

func TestHostRoutes(t *testing.T) {
	rs, err := HostRoutes()
	if err != nil {
		t.Skipf("no /proc routes here: %v", err)
	}
	for _, r := range rs {
		if r.Bits() == 0 {
			t.Errorf("default route %v not dropped", r)
		}
	}
	if !slices.IsSortedFunc(rs, comparePrefix) {
		t.Errorf("not sorted: %v", rs)
	}
}
