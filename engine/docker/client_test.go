package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-connections/tlsconfig"
)

func writeContext(t *testing.T, dir, name, meta string, tlsFiles ...string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	m := filepath.Join(dir, "contexts", "meta", id)
	if err := os.MkdirAll(m, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m, "meta.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(dir, "contexts", "tls", id, "docker")
	for _, f := range tlsFiles {
		os.MkdirAll(tlsDir, 0o700)
		os.WriteFile(filepath.Join(tlsDir, f), []byte("x"), 0o600)
	}
	return tlsDir
}

func TestFindEndpoint(t *testing.T) {
	dir := t.TempDir()
	writeContext(t, dir, "remote", `{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376","SkipTLSVerify":false}}}`)
	tlsDir := writeContext(t, dir, "secure", `{"Name":"secure","Endpoints":{"docker":{"Host":"tcp://10.0.0.6:2376","SkipTLSVerify":true}}}`, "ca.pem", "cert.pem", "key.pem")
	writeContext(t, dir, "tunnel", `{"Name":"tunnel","Endpoints":{"docker":{"Host":"ssh://me@box"}}}`)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext":"remote"}`), 0o600)
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	cases := []struct {
		name    string
		getenv  func(string) string
		want    daemonEndpoint
		wantErr string
	}{
		{"DOCKER_HOST wins", env("DOCKER_HOST", "unix:///x.sock", "DOCKER_CONTEXT", "secure"), daemonEndpoint{}, ""},
		{"current context", env(), daemonEndpoint{Context: "remote", Host: "tcp://10.0.0.5:2376"}, ""},
		{"DOCKER_CONTEXT", env("DOCKER_CONTEXT", "secure"), daemonEndpoint{Context: "secure", Host: "tcp://10.0.0.6:2376", TLS: &tlsconfig.Options{
			CAFile: filepath.Join(tlsDir, "ca.pem"), CertFile: filepath.Join(tlsDir, "cert.pem"), KeyFile: filepath.Join(tlsDir, "key.pem"),
			InsecureSkipVerify: true, ExclusiveRootPools: true}}, ""},
		{"default", env("DOCKER_CONTEXT", "default"), daemonEndpoint{}, ""},
		{"missing", env("DOCKER_CONTEXT", "nope"), daemonEndpoint{}, `docker context "nope": `},
		{"ssh", env("DOCKER_CONTEXT", "tunnel"), daemonEndpoint{}, "ssh endpoints are not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := findEndpoint(c.getenv, dir)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// A context made by the docker CLI itself, pointing at the local daemon's
// socket, is found and connected to: the store's layout is the CLI's,
// not this package's guess.
func TestConnectThroughCLIContext(t *testing.T) {
	b := newRealBackend(t) // the local daemon answers (or the test skips, CI fails)
	host := b.api.(interface{ DaemonHost() string }).DaemonHost()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the docker CLI is needed to make a context: %v", err)
	}
	cfg := t.TempDir()
	mk := exec.Command("docker", "context", "create", "hoist-test", "--docker", "host="+host)
	mk.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("docker context create: %v\n%s", err, out)
	}
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "hoist-test")
	ep, err := findEndpoint(os.Getenv, configDir())
	if err != nil || ep.Host != host {
		t.Fatalf("findEndpoint = %+v, %v; want host %s", ep, err, host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// A context naming an absent socket fails, naming the context.
	t.Setenv("DOCKER_CONTEXT", "gone")
	mk = exec.Command("docker", "context", "create", "gone", "--docker", "host=unix://"+filepath.Join(cfg, "absent.sock"))
	mk.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("docker context create: %v\n%s", err, out)
	}
	if _, err := Connect(ctx); err == nil || !strings.Contains(err.Error(), `(docker context "gone")`) {
		t.Errorf("Connect through a dead context: %v", err)
	}
}
