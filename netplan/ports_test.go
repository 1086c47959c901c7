package netplan

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// load parses compose YAML with compose-go, as hoist does, so the tests
// cover the shapes compose-go really produces, not ones we imagine.
func load(t *testing.T, yaml string) *types.Project {
	t.Helper()
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  t.TempDir(),
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: []byte(yaml)}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("proj", true) })
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return p
}

func render(bs []Binding) string {
	var lines []string
	for _, b := range bs {
		lines = append(lines, b.String())
	}
	return strings.Join(lines, "\n")
}

func TestPorts(t *testing.T) {
	tests := []struct {
		name  string
		ports string // YAML list items under services.s.ports
		extra string // extra YAML under services.s
		want  string
	}{
		{"host:container", `["5001:5001"]`, "", "s 0.0.0.0:5001:5001/tcp"},
		{"ip:host:container", `["127.0.0.1:6379:6379"]`, "", "s 127.0.0.1:6379:6379/tcp"},
		{"container only is random", `["8080"]`, "", "s 0.0.0.0:0:8080/tcp"},
		{"bare integer", `[8080]`, "", "s 0.0.0.0:0:8080/tcp"},
		{"udp", `["53:53/udp"]`, "", "s 0.0.0.0:53:53/udp"},
		{"upper-case protocol", `["53:53/UDP"]`, "", "s 0.0.0.0:53:53/udp"},
		{"sctp", `["9:9/sctp"]`, "", "s 0.0.0.0:9:9/sctp"},
		{"ipv6 host ip", `["[::1]:80:80"]`, "", "s ::1:80:80/tcp"},
		{"range both sides", `["8000-8002:8000-8002"]`, "",
			"s 0.0.0.0:8000:8000/tcp\ns 0.0.0.0:8001:8001/tcp\ns 0.0.0.0:8002:8002/tcp"},
		{"container range random host", `["7000-7001"]`, "", "s 0.0.0.0:0:7000/tcp\ns 0.0.0.0:0:7001/tcp"},
		{"host range one container port", `["9000-9001:80"]`, "", "s 0.0.0.0:9000-9001:80/tcp"},
		{"ip with range", `["127.0.0.1:8000-8001:8000-8001/udp"]`, "",
			"s 127.0.0.1:8000:8000/udp\ns 127.0.0.1:8001:8001/udp"},
		{"long syntax", "\n      - {target: 80, published: \"8080\", host_ip: 127.0.0.1, protocol: tcp, mode: host}", "",
			"s 127.0.0.1:8080:80/tcp"},
		{"long syntax defaults", "\n      - target: 80", "", "s 0.0.0.0:0:80/tcp"},
		{"long syntax published range", "\n      - {target: 80, published: \"8000-8002\"}", "", "s 0.0.0.0:8000-8002:80/tcp"},
		{"long syntax ipv6", "\n      - {target: 53, published: \"53\", host_ip: \"::\", protocol: udp}", "", "s :::53:53/udp"},
		{"sorted", `["9000:90", "127.0.0.1:80:80", "81:81"]`, "",
			"s 0.0.0.0:81:81/tcp\ns 0.0.0.0:9000:90/tcp\ns 127.0.0.1:80:80/tcp"},
		{"scaled random ports are fine", `["80"]`, "scale: 3", "s 0.0.0.0:0:80/tcp"},
		{"scaled range gives one per replica", `["8000-8002:80"]`, "deploy: {replicas: 2}",
			"s 0.0.0.0:8000-8002:80/tcp\ns 0.0.0.0:8000-8002:80/tcp"},
		{"scale 1 fixed port", `["80:80"]`, "scale: 1", "s 0.0.0.0:80:80/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, "services:\n  s:\n    image: x\n    "+tt.extra+"\n    ports: "+tt.ports+"\n")
			got, err := Ports(p)
			if err != nil {
				t.Fatalf("Ports: %v", err)
			}
			if s := render(got); s != tt.want {
				t.Errorf("got\n%s\nwant\n%s", s, tt.want)
			}
		})
	}
}

func TestPortsSeveralServices(t *testing.T) {
	p := load(t, `
services:
  web: {image: x, ports: ["5001:5001"]}
  db: {image: x, ports: ["127.0.0.1:6379:6379"]}
  none: {image: x}
`)
	got, err := Ports(p)
	if err != nil {
		t.Fatal(err)
	}
	want := "db 127.0.0.1:6379:6379/tcp\nweb 0.0.0.0:5001:5001/tcp"
	if s := render(got); s != want {
		t.Errorf("got\n%s\nwant\n%s", s, want)
	}
}

// The model is built by hand here: compose-go rejects most of these while
// loading, but a Project can come from anywhere (tests, API, other loaders).
func TestPortsErrors(t *testing.T) {
	two := 2
	tests := []struct {
		name  string
		port  types.ServicePortConfig
		scale *int
		want  string
	}{
		{"bad protocol", types.ServicePortConfig{Target: 80, Published: "80", Protocol: "icmp"}, nil,
			`service "web": port "80:80/icmp": unknown protocol "icmp"; use tcp, udp or sctp`},
		{"bad mode", types.ServicePortConfig{Target: 80, Mode: "global"}, nil,
			`service "web": port "80": unknown mode "global"; use ingress or host`},
		{"zero target", types.ServicePortConfig{Published: "80"}, nil,
			`service "web": port "80:0": container port 0 is out of range; use 1-65535`},
		{"huge target", types.ServicePortConfig{Target: 70000}, nil,
			`service "web": port "70000": container port 70000 is out of range; use 1-65535`},
		{"bad host ip", types.ServicePortConfig{Target: 80, HostIP: "localhost", Published: "80"}, nil,
			`service "web": port "localhost:80:80": invalid host IP "localhost"; use an address such as 127.0.0.1 or ::1`},
		{"zoned host ip", types.ServicePortConfig{Target: 80, HostIP: "fe80::1%eth0", Published: "80"}, nil,
			`service "web": port "[fe80::1%eth0]:80:80": invalid host IP "fe80::1%eth0"; use an address such as 127.0.0.1 or ::1`},
		{"bad published", types.ServicePortConfig{Target: 80, Published: "http"}, nil,
			`service "web": port "http:80": invalid host port "http"; use a number 1-65535 or a range such as 8000-8010`},
		{"published zero", types.ServicePortConfig{Target: 80, Published: "0"}, nil,
			`service "web": port "0:80": invalid host port "0"; use a number 1-65535 or a range such as 8000-8010`},
		{"published too big", types.ServicePortConfig{Target: 80, Published: "65536"}, nil,
			`service "web": port "65536:80": invalid host port "65536"; use a number 1-65535 or a range such as 8000-8010`},
		{"reversed range", types.ServicePortConfig{Target: 80, Published: "9001-9000"}, nil,
			`service "web": port "9001-9000:80": invalid host port "9001-9000"; use a number 1-65535 or a range such as 8000-8010`},
		{"scaled fixed port", types.ServicePortConfig{Target: 80, Published: "8080"}, &two,
			`service "web": port "8080:80": 2 replicas cannot all publish host port 8080; use a host port range with at least 2 ports (e.g. "8080-8081:80"), or leave the host port out for random ports`},
		{"one-port range is a fixed port", types.ServicePortConfig{Target: 80, Published: "8080-8080"}, &two,
			`service "web": port "8080-8080:80": 2 replicas cannot all publish host port 8080; use a host port range with at least 2 ports (e.g. "8080-8081:80"), or leave the host port out for random ports`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &types.Project{Services: types.Services{"web": svc("web", tt.scale, tt.port)}}
			_, err := Ports(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidPort) {
				t.Errorf("error does not wrap ErrInvalidPort: %v", err)
			}
			if want := "invalid port:\n" + tt.want; err.Error() != want {
				t.Errorf("got\n%s\nwant\n%s", err, want)
			}
		})
	}
}

func TestPortsRangeTooSmallForReplicas(t *testing.T) {
	three := 3
	p := &types.Project{Services: types.Services{
		"web": svc("web", &three, types.ServicePortConfig{Target: 80, Published: "8000-8001"}),
	}}
	_, err := Ports(p)
	want := "invalid port:\n" + `service "web": port "8000-8001:80": 3 replicas need 3 host ports but the range has 2; widen the range (e.g. "8000-8002:80")`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestPortsGathersAllErrors(t *testing.T) {
	p := &types.Project{Services: types.Services{
		"b": svc("b", nil, types.ServicePortConfig{Target: 0}),
		"a": svc("a", nil, types.ServicePortConfig{Target: 80, Protocol: "x"}, types.ServicePortConfig{Target: 81}),
	}}
	_, err := Ports(p)
	want := `invalid port:
service "a": port "80/x": unknown protocol "x"; use tcp, udp or sctp
service "b": port "0": container port 0 is out of range; use 1-65535`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func svc(name string, scale *int, ports ...types.ServicePortConfig) types.ServiceConfig {
	s := types.ServiceConfig{Name: name, Scale: scale}
	s.Ports = ports
	return s
}
