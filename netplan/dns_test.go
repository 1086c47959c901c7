package netplan

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func renderDNS(m map[string][]Record) string {
	var lines []string
	for _, net := range slices.Sorted(maps.Keys(m)) {
		for _, r := range m[net] {
			lines = append(lines, fmt.Sprintf("%s: %s -> %s (%s)", net, r.Name, r.IP, r.Container))
		}
	}
	return strings.Join(lines, "\n")
}

func TestDNSRecords(t *testing.T) {
	p := load(t, `
services:
  web:
    image: x
    scale: 2
    hostname: WebHost
    networks:
      front:
        aliases: [www, WWW.example]
      back:
  db:
    image: x
    container_name: Database
    networks:
      back:
        aliases: [store]
        use_service_name_alias: false
  cache:
    image: x
    networks: [back]
  lonely:
    image: x
    network_mode: none
networks:
  front:
  back:
    internal: true
`)
	ip := netip.MustParseAddr
	containers := []ContainerRef{
		{Name: "proj-web-2", Service: "web", Number: 2, IPs: map[string]netip.Addr{"front": ip("10.0.1.3"), "back": ip("10.0.2.3")}},
		{Name: "proj-web-1", Service: "web", Number: 1, IPs: map[string]netip.Addr{"front": ip("10.0.1.2"), "back": ip("10.0.2.2")}},
		{Name: "Database", Service: "db", Number: 1, IPs: map[string]netip.Addr{"back": ip("10.0.2.4")}},
		{Name: "proj-cache-1", Service: "cache", Number: 1, IPs: map[string]netip.Addr{"back": ip("10.0.2.5"), "front": {}}},
		{Name: "proj-lonely-1", Service: "lonely", Number: 1},
		{Name: "orphan-1", Service: "removed", Number: 1, IPs: map[string]netip.Addr{"back": ip("10.0.2.9")}},
	}
	want := `back: cache -> 10.0.2.5 (proj-cache-1)
back: database -> 10.0.2.4 (Database)
back: orphan-1 -> 10.0.2.9 (orphan-1)
back: proj-cache-1 -> 10.0.2.5 (proj-cache-1)
back: proj-web-1 -> 10.0.2.2 (proj-web-1)
back: proj-web-2 -> 10.0.2.3 (proj-web-2)
back: store -> 10.0.2.4 (Database)
back: web -> 10.0.2.2 (proj-web-1)
back: web -> 10.0.2.3 (proj-web-2)
back: webhost -> 10.0.2.2 (proj-web-1)
back: webhost -> 10.0.2.3 (proj-web-2)
front: proj-web-1 -> 10.0.1.2 (proj-web-1)
front: proj-web-2 -> 10.0.1.3 (proj-web-2)
front: web -> 10.0.1.2 (proj-web-1)
front: web -> 10.0.1.3 (proj-web-2)
front: webhost -> 10.0.1.2 (proj-web-1)
front: webhost -> 10.0.1.3 (proj-web-2)
front: www -> 10.0.1.2 (proj-web-1)
front: www -> 10.0.1.3 (proj-web-2)
front: www.example -> 10.0.1.2 (proj-web-1)
front: www.example -> 10.0.1.3 (proj-web-2)`
	got := DNSRecords(p, containers)
	if s := renderDNS(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
	// Same input in another order gives the same records.
	slices.Reverse(containers)
	if s := renderDNS(DNSRecords(p, containers)); s != want {
		t.Errorf("order-dependent:\n%s", s)
	}
}

func TestDNSRecordsDedupAndIPv6(t *testing.T) {
	p := load(t, `
services:
  api:
    image: x
    hostname: api
    networks:
      default:
        aliases: [API, api]
`)
	got := DNSRecords(p, []ContainerRef{{Name: "proj-api-1", Service: "api", Number: 1,
		IPs: map[string]netip.Addr{"default": netip.MustParseAddr("fd00::2")}}})
	want := "default: api -> fd00::2 (proj-api-1)\ndefault: proj-api-1 -> fd00::2 (proj-api-1)"
	if s := renderDNS(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
}
