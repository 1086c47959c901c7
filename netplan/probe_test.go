package netplan

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
)

// These bind only on 127.0.0.1 and send nothing.
func TestHostProbe(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("cannot listen on loopback: %v", err)
	}
	defer l.Close()
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	lo := netip.MustParseAddr("127.0.0.1")

	err = HostProbe(Binding{Service: "db", HostIP: lo, HostPort: port, ContainerPort: 1, Protocol: "tcp"})
	if !errors.Is(err, ErrPortInUse) {
		t.Errorf("held TCP port: got %v, want ErrPortInUse", err)
	}

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("cannot listen on loopback: %v", err)
	}
	defer pc.Close()
	uport := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	if err := HostProbe(Binding{HostIP: lo, HostPort: uport, Protocol: "udp"}); !errors.Is(err, ErrPortInUse) {
		t.Errorf("held UDP port: got %v, want ErrPortInUse", err)
	}

	// The probe closes what it opened: a free port stays free after it.
	free := freePort(t)
	for range 2 {
		if err := HostProbe(Binding{HostIP: lo, HostPort: free, Protocol: "tcp"}); err != nil {
			t.Errorf("free port %d: %v", free, err)
		}
	}

	// Through Check, the message is the user-facing one.
	err = Check([]Binding{{Service: "db", HostIP: lo, HostPort: port, ContainerPort: 6379, Protocol: "tcp"}}, HostProbe)
	want := `port ` + strconv.Itoa(int(port)) + `/tcp on 127.0.0.1 (service "db") is already in use on this host; stop what holds it or change "ports" for "db"`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}
