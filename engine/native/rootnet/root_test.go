package rootnet

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// As root, in the host's network namespace: only 127.0.0.1, this
// machine's own address and the namespaces the tests make see traffic.

func TestPublishTCP(t *testing.T) {
	requireNative(t)
	scenarioPublishTCP(t, newTopology(t), 64<<20)
}

func TestPublishUDP(t *testing.T) {
	requireNative(t)
	scenarioPublishUDP(t, newTopology(t))
}

func TestOutbound(t *testing.T) {
	requireNative(t)
	tp := newTopology(t)
	scenarioOutbound(t, tp)
}

func TestDNS(t *testing.T) {
	requireNative(t)
	scenarioDNS(t, newTopology(t))
}

func TestCheckHostPort(t *testing.T) {
	f := t.TempDir() + "/start"
	os.WriteFile(f, []byte("1024\n"), 0o644)
	err := checkHostPort(f, 80)
	if err == nil || !strings.Contains(err.Error(), "net.ipv4.ip_unprivileged_port_start") {
		t.Errorf("port 80 with the start at 1024: %v, want a refusal naming the sysctl", err)
	}
	for _, p := range []uint16{0, 1024, 8080} {
		if err := checkHostPort(f, p); err != nil {
			t.Errorf("port %d: %v", p, err)
		}
	}
	if err := CheckHostPort(0); err != nil {
		t.Errorf("the real sysctl: %v", err)
	}
}

func TestHostResolvers(t *testing.T) {
	f := t.TempDir() + "/resolv.conf"
	os.WriteFile(f, []byte("# comment\nsearch example\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\nnameserver 192.0.2.1\n"), 0o644)
	got, err := HostResolvers(f)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got); s != "[127.0.0.53:53 [::1]:53 192.0.2.1:53]" {
		t.Errorf("got %s", s)
	}
	os.WriteFile(f, []byte("search example\n"), 0o644)
	if _, err := HostResolvers(f); err == nil {
		t.Error("no nameserver: no error")
	}
}

// TestOutboundAllowed is the outbound proxy's last word on a redirected
// connection's original destination.
func TestOutboundAllowed(t *testing.T) {
	o := &Outbound{subnets: []netip.Prefix{subnet, netip.MustParsePrefix("10.90.0.0/16")}}
	local := netip.MustParseAddrPort("10.89.0.1:40000")
	for dst, want := range map[string]bool{
		"192.0.2.2:80":         true,  // the host's own address, as Docker's host gateway
		"198.51.100.7:443":     true,  // the world
		"127.0.0.1:22":         false, // the host's loopback
		"127.1.2.3:22":         false,
		"0.0.0.0:22":           false, // Linux delivers it to the host itself
		"0.1.2.3:22":           false,
		"10.89.0.1:40000":      false, // the listener, dialled directly
		"10.89.0.3:80":         false, // a container of the project: not redirected
		"10.90.5.5:80":         false,
		"224.0.0.1:80":         false,
		"255.255.255.255:80":   false,
		"[::ffff:127.0.0.1]:1": false,
	} {
		if got := o.allowed(netip.MustParseAddrPort(dst), local); got != want {
			t.Errorf("allowed(%s) = %v, want %v", dst, got, want)
		}
	}
}
