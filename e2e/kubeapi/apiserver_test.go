// Package kubeapi checks `hoist convert kubernetes` against a real
// Kubernetes API server: kube-apiserver (built from the k8s.io/kubernetes
// module by scripts/kube-apiserver.sh, cached outside the repository)
// over Debian's etcd, both on 127.0.0.1 only, in temporary directories.
// The converted objects go in with server-side dry run and strict field
// validation, then for real into a namespace, and are read back.
//
// Plain net/http and JSON: client-go would bring a large module graph
// for the handful of calls made here.
package kubeapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/convert/kube"
)

// version is the API server's release, the k8s.io/api types' too.
const version = "v1.37.2"

// binaries returns the cached kube-apiserver and etcd. Where the
// conversion must be proven (CI: HOIST_REQUIRE_NATIVE=1, or
// HOIST_REQUIRE_KUBE=1) it builds them when missing (7-10 minutes, once
// per machine); elsewhere it skips, saying how to get them.
func binaries(t *testing.T) (apiserver, etcd string) {
	t.Helper()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(cache, "hoist", "kube", version)
	apiserver, etcd = filepath.Join(dir, "kube-apiserver"), filepath.Join(dir, "etcd")
	if executable(apiserver) && executable(etcd) {
		return apiserver, etcd
	}
	if os.Getenv("HOIST_REQUIRE_NATIVE") != "1" && os.Getenv("HOIST_REQUIRE_KUBE") != "1" {
		t.Skipf("no cached kube-apiserver and etcd in %s: run scripts/kube-apiserver.sh (or set HOIST_REQUIRE_KUBE=1 to build them here)", dir)
	}
	cmd := exec.Command("../../scripts/kube-apiserver.sh", version)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("scripts/kube-apiserver.sh: %v\n%s", err, out)
	}
	t.Logf("built kube-apiserver and fetched etcd in %s", time.Since(start).Round(time.Second))
	return apiserver, etcd
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a server process until the test ends, then stops it with
// SIGTERM (SIGKILL after 10 s) and waits for it. The channel is closed
// when it exits.
func start(t *testing.T, name string, cmd *exec.Cmd) <-chan struct{} {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("%s's log (end):\n%s", name, b)
		}
		log.Close()
	})
	return done
}

// client talks to the API server with the test's token, trusting only
// the server's own self-signed certificate.
type client struct {
	base, token string
	http        *http.Client
}

// startServer starts etcd and kube-apiserver and returns a client once
// the server is ready.
func startServer(t *testing.T) *client {
	apiserverBin, etcdBin := binaries(t)
	dir := t.TempDir()
	etcdClient, etcdPeer, apiPort := freePort(t), freePort(t), freePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	start(t, "etcd", exec.Command(etcdBin,
		"--name=hoist-test", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=hoist-test="+peerURL, "--log-level=warn"))

	// The service accounts' signing key, and the one token the test uses.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	writeFile(t, pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
	tokenBytes := make([]byte, 16)
	if _, err := rand.Read(tokenBytes); err != nil {
		t.Fatal(err)
	}
	token := fmt.Sprintf("%x", tokenBytes)
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, []byte(token+`,hoist-test,hoist-test,"system:masters"`+"\n"))
	certDir := filepath.Join(dir, "certs")

	exited := start(t, "kube-apiserver", exec.Command(apiserverBin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort), "--cert-dir="+certDir,
		"--token-auth-file="+tokens, "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pubFile, "--service-account-signing-key-file="+keyFile,
		"--service-cluster-ip-range=10.96.0.0/16",
		// No endpoint of the "kubernetes" Service: it may not be a
		// loopback address, and the test needs none.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false", "--profiling=false"))

	c := &client{base: fmt.Sprintf("https://127.0.0.1:%d", apiPort), token: token}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case <-exited:
			t.Fatal("kube-apiserver exited")
		default:
		}
		if c.http == nil {
			// The server writes its self-signed certificate as it starts.
			if pemBytes, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt")); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pemBytes) {
					c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
				}
			}
		}
		if c.http != nil {
			status, body, _, err := c.do(context.Background(), "GET", "/readyz", nil)
			if err == nil && status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kube-apiserver not ready after 3 minutes: %d %s %v", status, body, err)
			}
		} else if time.Now().After(deadline) {
			t.Fatal("kube-apiserver wrote no certificate in 3 minutes")
		}
		time.Sleep(500 * time.Millisecond)
	}
	return c
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// do sends one request; it returns the status, the body and the
// server's warnings.
func (c *client) do(ctx context.Context, method, path string, body []byte) (int, []byte, []string, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Values("Warning"), err
}

// plurals are the resources of the kinds the converter makes.
var plurals = map[string]string{
	"ServiceAccount": "serviceaccounts", "Role": "roles", "RoleBinding": "rolebindings",
	"ConfigMap": "configmaps", "Secret": "secrets", "PersistentVolumeClaim": "persistentvolumeclaims",
	"Service": "services", "NetworkPolicy": "networkpolicies", "Job": "jobs",
	"StatefulSet": "statefulsets", "DaemonSet": "daemonsets", "Deployment": "deployments",
}

// collection is the path of o's kind in namespace ns.
func collection(o kube.Object, ns string) string {
	prefix := "/apis/" + o.APIVersion
	if o.APIVersion == "v1" {
		prefix = "/api/v1"
	}
	return fmt.Sprintf("%s/namespaces/%s/%s", prefix, ns, plurals[o.Kind])
}

// convert loads the compose files as `hoist convert kubernetes
// --namespace ns` does and returns the objects.
func convert(t *testing.T, ns string, files ...string) []kube.Object {
	t.Helper()
	p, _, err := compose.LoadLocated(context.Background(), compose.Options{Files: files, Environ: []string{}, Swarm: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := kube.Convert(p, kube.Options{Namespace: ns, ReadFile: os.ReadFile})
	if err != nil {
		t.Fatal(err)
	}
	if errs := res.Errors(); len(errs) > 0 {
		t.Fatalf("conversion errors: %v", errs)
	}
	return res.Objects
}

// contains reports where got lacks or differs from what was sent: every
// field sent must come back as sent (the server adds its defaults and
// bookkeeping, which are not compared).
func contains(path string, sent, got any) []string {
	switch s := sent.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: sent an object, read back %v", path, got)}
		}
		var out []string
		for k, v := range s {
			out = append(out, contains(path+"."+k, v, g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(s) {
			return []string{fmt.Sprintf("%s: sent %v, read back %v", path, sent, got)}
		}
		var out []string
		for i := range s {
			out = append(out, contains(fmt.Sprintf("%s[%d]", path, i), s[i], g[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(sent, got) {
			return []string{fmt.Sprintf("%s: sent %v, read back %v", path, sent, got)}
		}
		return nil
	}
}

func TestConvertedProjectsApply(t *testing.T) {
	c := startServer(t)
	ctx := context.Background()
	// The server's strictness is on: a field the type lacks is refused.
	bad := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bad"},"dta":{}}`)
	if status, body, _, err := c.do(ctx, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All&fieldValidation=Strict", bad); err != nil || status != http.StatusBadRequest || !strings.Contains(string(body), "dta") {
		t.Fatalf("an unknown field under strict validation: %d %s %v", status, body, err)
	}
	projects := []struct {
		name  string
		files []string
	}{
		{"flask-redis", []string{"../../samples/flask-redis/compose.yaml", "../../convert/kube/testdata/flask-redis-image.yaml"}},
		{"twenty", []string{"../../convert/kube/testdata/twenty/compose.yaml"}},
	}
	for _, pr := range projects {
		t.Run(pr.name, func(t *testing.T) {
			ns := "hoist-" + pr.name
			objs := convert(t, ns, pr.files...)
			nsBody, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}})
			if status, body, _, err := c.do(ctx, "POST", "/api/v1/namespaces?fieldValidation=Strict", nsBody); err != nil || status != http.StatusCreated {
				t.Fatalf("create namespace %s: %d %s %v", ns, status, body, err)
			}
			apply := func(query string) {
				for _, o := range objs {
					j, err := o.JSON()
					if err != nil {
						t.Fatal(err)
					}
					status, body, warnings, err := c.do(ctx, "POST", collection(o, ns)+query, j)
					if err != nil || status != http.StatusCreated {
						t.Errorf("%s %s %s: %d %s %v", query, o.Kind, o.Name, status, body, err)
					}
					if len(warnings) > 0 {
						t.Errorf("%s %s %s: the server warns: %q", query, o.Kind, o.Name, warnings)
					}
				}
			}
			apply("?dryRun=All&fieldValidation=Strict")
			if t.Failed() {
				return
			}
			// Nothing of the dry run was stored.
			for _, o := range objs {
				if status, _, _, _ := c.do(ctx, "GET", collection(o, ns)+"/"+o.Name, nil); status != http.StatusNotFound {
					t.Errorf("dry run stored %s %s (%d)", o.Kind, o.Name, status)
				}
			}
			apply("?fieldValidation=Strict")
			if t.Failed() {
				return
			}
			for _, o := range objs {
				j, _ := o.JSON()
				var sent, got map[string]any
				if err := json.Unmarshal(j, &sent); err != nil {
					t.Fatal(err)
				}
				status, body, _, err := c.do(ctx, "GET", collection(o, ns)+"/"+o.Name, nil)
				if err != nil || status != http.StatusOK {
					t.Errorf("read back %s %s: %d %s %v", o.Kind, o.Name, status, body, err)
					continue
				}
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatal(err)
				}
				if diff := contains(o.Kind+"/"+o.Name, sent, got); len(diff) > 0 {
					t.Errorf("read back differs:\n%s", strings.Join(diff, "\n"))
				}
			}
			t.Logf("%d objects applied (dry run, then for real) and read back in namespace %s", len(objs), ns)
		})
	}
}
