package enginetest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

func testPublishedPort(t *testing.T, h *harness) {
	net0 := engine.NetworkSpec{Name: h.project + "_default", Project: h.project, Key: "default"}
	if err := h.b.CreateNetwork(h.ctx(), net0); err != nil {
		t.Fatalf("CreateNetwork: %v", err)
	}
	svc := h.service("web", "sh", "-c", "echo hello-from-httpd > /tmp/index.html; exec httpd -f -p 8080 -h /tmp")
	svc.Ports = []types.ServicePortConfig{{HostIP: "127.0.0.1", Target: 8080, Protocol: "tcp"}}
	// Healthy means httpd answers inside, so one connection suffices.
	svc.HealthCheck = healthcheck("CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/index.html")
	id := h.run(h.spec(svc, runspec.Attachment{Network: net0.Name}))
	c := h.wait(id, engine.WaitHealthy)
	if len(c.Ports) == 0 {
		t.Fatalf("no published port on %+v", c)
	}
	p := c.Ports[0]
	if p.HostIP != "127.0.0.1" || p.ContainerPort != 8080 || p.Protocol != "tcp" || p.HostPort == 0 {
		t.Fatalf("port %+v, want 127.0.0.1:<random>->8080/tcp", p)
	}
	if o := h.find(id); len(o.Ports) != 1 || o.Ports[0] != p {
		t.Errorf("Observe ports %+v, want [%+v]", o.Ports, p)
	}
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.HostPort), 10*time.Second)
	if err != nil {
		t.Fatalf("connect to published port: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, "GET /index.html HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatalf("write request: %v", err)
	}
	body, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if !strings.Contains(string(body), "hello-from-httpd") {
		t.Errorf("response %q does not contain the served file", body)
	}
}

func testMounts(t *testing.T, h *harness) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := engine.VolumeSpec{Name: h.project + "_data", Project: h.project, Key: "data"}
	if err := h.b.CreateVolume(h.ctx(), vol); err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	volumes := []types.ServiceVolumeConfig{
		{Type: types.VolumeTypeBind, Source: dir, Target: "/host", ReadOnly: true, Bind: &types.ServiceVolumeBind{CreateHostPath: true}},
		{Type: types.VolumeTypeVolume, Source: vol.Name, Target: "/data"},
	}
	// The writer proves the bind is read-only and leaves a file in the
	// volume; a second container proves the volume persists.
	writer := h.service("writer", "sh", "-c", "cat /host/f.txt; touch /host/nope 2>/dev/null && echo bind-writable; echo in-volume > /data/v.txt")
	writer.Volumes = volumes
	reader := h.service("reader", "cat", "/data/v.txt")
	reader.Volumes = volumes
	for _, step := range []struct {
		svc  types.ServiceConfig
		want string
	}{{writer, "from-host\n"}, {reader, "in-volume\n"}} {
		id := h.run(h.spec(step.svc))
		if c := h.wait(id, engine.WaitExited); c.ExitCode != 0 {
			t.Errorf("%s exited %d", step.svc.Name, c.ExitCode)
		}
		var stdout, stderr bytes.Buffer
		if err := h.b.Logs(h.ctx(), id, engine.LogOptions{}, &stdout, &stderr); err != nil {
			t.Fatalf("Logs: %v", err)
		}
		if stdout.String() != step.want {
			t.Errorf("%s printed %q (stderr %q), want %q", step.svc.Name, stdout.String(), stderr.String(), step.want)
		}
	}
}
