package native

import (
	"context"
	"errors"
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
	"github.com/hoist-dev/hoist/netplan"
	"github.com/hoist-dev/hoist/runspec"
)

// webSpec is an httpd on a compose network publishing 8080 on host.
func webSpec(project, host string) engine.ContainerSpec {
	spec := testSpec(project, "web", "sh", "-c", "echo hello-from-httpd > /tmp/index.html; exec httpd -f -p 8080 -h /tmp")
	spec.Service.Ports = []types.ServicePortConfig{{HostIP: "127.0.0.1", Published: host, Target: 8080, Protocol: "tcp"}}
	spec.Networks = []runspec.Attachment{{Network: project + "_default", Aliases: []string{"web"}}}
	return spec.resolved()
}

func newNetwork(t *testing.T, b *Backend, project string) {
	t.Helper()
	if err := b.CreateNetwork(testCtx(t), engine.NetworkSpec{Name: project + "_default", Project: project}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.RemoveNetwork(context.Background(), project+"_default"); err != nil && !errors.Is(err, engine.ErrNotFound) {
			t.Error(err)
		}
	})
}

// proxyRole is argv[0] of the port proxy processes earlier versions ran
// for attached containers: none must be left.
const proxyRole = "hoist-runtime:portproxy"

func proxyPids(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasPrefix(string(b), proxyRole+"\x00"+dir) {
			out = append(out, filepath.Base(filepath.Dir(p)))
		}
	}
	return out
}

// A published port serves while the container runs; stop ends the proxy
// and frees the port.
func TestPublishedPortStopFreesIt(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	const project = "pubstop"
	newNetwork(t, b, project)
	id, _ := run(t, b, webSpec(project, ""), engine.WaitRunning)
	c := observeOne(t, b, project, id)
	if len(c.Ports) != 1 || c.Ports[0].HostPort == 0 || c.Ports[0].HostIP != "127.0.0.1" {
		t.Fatalf("ports %+v", c.Ports)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", c.Ports[0].HostPort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := httpGet(addr)
		if err == nil && strings.Contains(body, "hello-from-httpd") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %q %v", addr, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dir := b.layout.StateDir(project, id)
	if sup := b.sups.Live(ctx, project); sup == nil {
		t.Fatal("no supervisor serves the port")
	} else if st, err := sup.State(ctx, id); err != nil || len(st.Ports) != 1 {
		t.Fatalf("supervisor ports %v %v, want one", st.Ports, err)
	}
	if err := b.StopContainer(ctx, id, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if p := proxyPids(dir); len(p) != 0 {
		t.Errorf("proxy left after stop: %v", p)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not freed by stop: %v", err)
	}
	ln.Close()
	if c := observeOne(t, b, project, id); len(c.Ports) != 0 {
		t.Errorf("stopped container shows ports %+v", c.Ports)
	}
}

// A host port someone holds fails the start with the proxy's error and
// leaves no proxy, veth or namespace.
func TestPublishedPortTaken(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	const project = "pubtaken"
	newNetwork(t, b, project)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	id, err := b.CreateContainer(ctx, webSpec(project, fmt.Sprint(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.RemoveContainer(context.Background(), id, engine.RemoveOptions{Force: true}) })
	err = b.StartContainer(ctx, id)
	if !errors.Is(err, netplan.ErrPortInUse) || !strings.Contains(err.Error(), fmt.Sprint(port)) {
		t.Fatalf("start: %v, want port %d in use", err, port)
	}
	if p := proxyPids(b.layout.StateDir(project, id)); len(p) != 0 {
		t.Errorf("proxy left: %v", p)
	}
	if _, err := os.Stat(b.nets.Manager.NetnsPath(project, spec(project).Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns left: %v", err)
	}
	if c := observeOne(t, b, project, id); c.State != engine.StateCreated {
		t.Errorf("state %s, want created", c.State)
	}
}

func spec(project string) engine.ContainerSpec { return webSpec(project, "") }

func httpGet(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /index.html HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	body, err := io.ReadAll(conn)
	return string(body), err
}

func observeOne(t *testing.T, b *Backend, project, id string) engine.Container {
	t.Helper()
	st, err := b.Observe(context.Background(), project, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Containers {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no container %s", id)
	return engine.Container{}
}

// An attached run's published port is served as a detached container's
// is, by the project's supervisor (no proxy process of its own): it
// answers while the container runs and is freed when the run ends.
func TestPublishedPortOfAttachedRun(t *testing.T) {
	b := newBackend(t)
	ctx := testCtx(t)
	const project = "pubrun"
	newNetwork(t, b, project)
	spec := webSpec(project, "")
	spec.Name, spec.OneOff = project+"-web-run-1", true
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		_, runErr = b.RunContainer(ctx, spec, engine.RunAttach{Stdout: io.Discard, Stderr: io.Discard, Remove: true})
	}()
	c := waitRunning(t, b, project, done)
	if len(c.Ports) != 1 || c.Ports[0].HostPort == 0 {
		t.Fatalf("ports %+v", c.Ports)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", c.Ports[0].HostPort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := httpGet(addr)
		if err == nil && strings.Contains(body, "hello-from-httpd") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %q %v", addr, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b.sups.Live(ctx, project) == nil {
		t.Fatal("no supervisor serves the port")
	}
	if p := proxyPids(b.layout.StateDir(project, c.ID)); len(p) != 0 {
		t.Errorf("a proxy process of its own: %v", p)
	}
	if err := b.Kill(ctx, c.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	<-done
	if runErr != nil {
		t.Fatal(runErr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port not freed when the run ended: %v", err)
	}
	ln.Close()
}
