package netplan

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

func bind(svc, ip string, host, ctr uint16, proto string) Binding {
	return Binding{Service: svc, HostIP: netip.MustParseAddr(ip), HostPort: host, ContainerPort: ctr, Protocol: proto}
}

func ranged(svc, ip string, lo, hi, ctr uint16, proto string) Binding {
	b := bind(svc, ip, lo, ctr, proto)
	b.HostPortEnd = hi
	return b
}

// busy is a fake host where the listed "ip:port/proto" are taken.
func busy(t *testing.T, held ...string) Probe {
	set := map[string]bool{}
	for _, h := range held {
		set[h] = true
	}
	return func(b Binding) error {
		if b.HostPort == 0 {
			t.Errorf("random port probed: %v", b)
		}
		if set[fmt.Sprintf("%s:%d/%s", b.HostIP, b.HostPort, b.Protocol)] {
			return fmt.Errorf("%w: bind: address already in use", ErrPortInUse)
		}
		return nil
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		bindings []Binding
		probe    Probe
		want     string // "" = no error
	}{
		{"no bindings", nil, nil, ""},
		{"distinct ports", []Binding{bind("web", "0.0.0.0", 5001, 5001, "tcp"), bind("api", "0.0.0.0", 5002, 5001, "tcp")}, nil, ""},
		{"same port both all addresses",
			[]Binding{bind("web", "0.0.0.0", 5001, 5001, "tcp"), bind("api", "0.0.0.0", 5001, 80, "tcp")}, nil,
			`port 5001/tcp on 0.0.0.0 is published by both "api" and "web"`},
		{"tcp and udp do not conflict",
			[]Binding{bind("dns", "0.0.0.0", 53, 53, "tcp"), bind("dns2", "0.0.0.0", 53, 53, "udp")}, nil, ""},
		{"different specific addresses do not conflict",
			[]Binding{bind("a", "127.0.0.1", 80, 80, "tcp"), bind("b", "127.0.0.2", 80, 80, "tcp")}, nil, ""},
		{"specific address inside all addresses",
			[]Binding{bind("a", "127.0.0.1", 80, 80, "tcp"), bind("b", "0.0.0.0", 80, 80, "tcp")}, nil,
			`port 80/tcp on 127.0.0.1 and 0.0.0.0 is published by both "a" and "b"`},
		{"ipv6 unspecified overlaps ipv4",
			[]Binding{bind("a", "127.0.0.1", 80, 80, "tcp"), bind("b", "::", 80, 80, "tcp")}, nil,
			`port 80/tcp on 127.0.0.1 and :: is published by both "a" and "b"`},
		{"same service twice",
			[]Binding{bind("web", "0.0.0.0", 80, 80, "tcp"), bind("web", "0.0.0.0", 80, 8080, "tcp")}, nil,
			`port 80/tcp on 0.0.0.0 is published twice by "web"; remove one of its "ports" entries`},
		{"random ports never conflict or get probed",
			[]Binding{bind("a", "0.0.0.0", 0, 80, "tcp"), bind("b", "0.0.0.0", 0, 80, "tcp")}, busy(t), ""},
		{"host holds the port",
			[]Binding{bind("db", "0.0.0.0", 6379, 6379, "tcp")}, busy(t, "0.0.0.0:6379/tcp"),
			`port 6379/tcp on 0.0.0.0 (service "db") is already in use on this host; stop what holds it or change "ports" for "db"`},
		{"host holds another protocol",
			[]Binding{bind("db", "0.0.0.0", 6379, 6379, "tcp")}, busy(t, "0.0.0.0:6379/udp"), ""},
		{"probe cannot tell",
			[]Binding{bind("db", "10.9.9.9", 6379, 6379, "tcp")},
			func(Binding) error {
				return errors.New("listen tcp4 10.9.9.9:6379: bind: cannot assign requested address")
			},
			`port 6379/tcp on 10.9.9.9 (service "db") cannot be checked on this host: listen tcp4 10.9.9.9:6379: bind: cannot assign requested address; check "host_ip" and "ports" for "db"`},
		{"every conflict gathered, one line each",
			[]Binding{
				bind("web", "0.0.0.0", 5001, 5001, "tcp"),
				bind("api", "0.0.0.0", 5001, 5001, "tcp"),
				bind("db", "0.0.0.0", 6379, 6379, "tcp"),
				bind("dns", "127.0.0.1", 53, 53, "udp"),
				bind("dns2", "127.0.0.1", 53, 53, "udp"),
			}, busy(t, "0.0.0.0:6379/tcp"),
			`port 5001/tcp on 0.0.0.0 is published by both "api" and "web"
port 53/udp on 127.0.0.1 is published by both "dns" and "dns2"
port 6379/tcp on 0.0.0.0 (service "db") is already in use on this host; stop what holds it or change "ports" for "db"`},
		{"port busy for two services is probed once",
			[]Binding{bind("a", "0.0.0.0", 80, 80, "tcp"), bind("b", "0.0.0.0", 80, 80, "tcp")}, busy(t, "0.0.0.0:80/tcp"),
			`port 80/tcp on 0.0.0.0 is published by both "a" and "b"
port 80/tcp on 0.0.0.0 (service "a") is already in use on this host; stop what holds it or change "ports" for "a"`},
		{"range skips fixed and busy ports",
			[]Binding{ranged("web", "0.0.0.0", 8000, 8002, 80, "tcp"), bind("api", "0.0.0.0", 8000, 80, "tcp")},
			busy(t, "0.0.0.0:8001/tcp"), ""},
		{"range exhausted",
			[]Binding{ranged("web", "0.0.0.0", 8000, 8001, 80, "tcp"), bind("api", "0.0.0.0", 8000, 80, "tcp")},
			busy(t, "0.0.0.0:8001/tcp"),
			`no free port in 8000-8001/tcp on 0.0.0.0 for service "web"; widen the range or free a port in it`},
		{"unset host IP means all addresses",
			[]Binding{{Service: "a", HostPort: 80, ContainerPort: 80, Protocol: "tcp"}, bind("b", "127.0.0.1", 80, 80, "tcp")}, nil,
			`port 80/tcp on 0.0.0.0 and 127.0.0.1 is published by both "a" and "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.bindings, tt.probe)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error:\n%v", err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("no error, want\n%s", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("got\n%v\nwant\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrPortConflict) {
				t.Errorf("error does not wrap ErrPortConflict")
			}
		})
	}
}

func TestCheckKeepsProbeError(t *testing.T) {
	err := Check([]Binding{bind("db", "0.0.0.0", 1, 1, "tcp")}, busy(t, "0.0.0.0:1/tcp"))
	if !errors.Is(err, ErrPortInUse) {
		t.Errorf("errors.Is(err, ErrPortInUse) = false for %v", err)
	}
}

func TestResolve(t *testing.T) {
	bindings := []Binding{
		ranged("web", "0.0.0.0", 8000, 8003, 80, "tcp"),
		ranged("web", "0.0.0.0", 8000, 8003, 80, "tcp"),
		bind("api", "0.0.0.0", 8000, 80, "tcp"),
		bind("api", "0.0.0.0", 0, 81, "tcp"),
		ranged("dns", "127.0.0.1", 5300, 5301, 53, "udp"),
	}
	got, err := Resolve(bindings, CheckOptions{Probe: busy(t, "0.0.0.0:8001/tcp")})
	if err != nil {
		t.Fatal(err)
	}
	want := `api 0.0.0.0:0:81/tcp
api 0.0.0.0:8000:80/tcp
dns 127.0.0.1:5300:53/udp
web 0.0.0.0:8002:80/tcp
web 0.0.0.0:8003:80/tcp`
	if s := render(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
}

func TestResolveHeld(t *testing.T) {
	// The project's own running "db" publishes 6379 and the host reports it
	// busy because of that; held ports are not probed, so no conflict.
	probe := busy(t, "0.0.0.0:6379/tcp", "0.0.0.0:8000/tcp")
	opts := CheckOptions{Probe: probe, Held: []Binding{
		{HostPort: 6379, Protocol: "tcp"},
		bind("web", "0.0.0.0", 8000, 80, "tcp"),
	}}
	got, err := Resolve([]Binding{
		bind("db", "0.0.0.0", 6379, 6379, "tcp"),
		ranged("web", "0.0.0.0", 8000, 8001, 80, "tcp"),
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := "db 0.0.0.0:6379:6379/tcp\nweb 0.0.0.0:8000:80/tcp"
	if s := render(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
	// A held port does not hide a conflict inside the project itself.
	err = Check([]Binding{bind("db", "0.0.0.0", 6379, 6379, "tcp"), bind("cache", "0.0.0.0", 6379, 6379, "tcp")}, nil)
	if err == nil {
		t.Error("no conflict between db and cache")
	}
}
