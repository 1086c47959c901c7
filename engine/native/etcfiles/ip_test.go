package etcfiles

import (
	"net/netip"
	"testing"
)

// parseIP must accept what net/netip accepts and agree on loopback.
func FuzzParseIP(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "127.0.0.53", "10.0.0.2", "0.0.0.0", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3", "",
		"::1", "::", "::1%eth0", "::1%", "fe80::1%lo", "2001:db8::53", "0:0:0:0:0:0:0:1", "0:0:0:0:0:0:0:1:2", "1::2::3",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7",
		"12345::", ":1", "1:", "1::", ":::", "host-gateway", "[::1]", "0000:0000:0000:0000:0000:0000:0000:0001", "00001::",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		ok, loop := parseIP(s)
		if ok != (err == nil) {
			t.Fatalf("parseIP(%q) ok=%v, netip: %v", s, ok, err)
		}
		if ok && loop != a.IsLoopback() {
			t.Fatalf("parseIP(%q) loopback=%v, netip %v", s, loop, a.IsLoopback())
		}
	})
}
