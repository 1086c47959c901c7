package rootnet

import (
	"fmt"
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
