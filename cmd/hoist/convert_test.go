package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testengine"
)

// TestConvertKubernetes drives `hoist convert kubernetes` as a user
// does: the stream on stdout, -o DIR, --format json, a located warning,
// --strict turning it into a failure, and a located refusal.
func TestConvertKubernetes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("services:\n  web:\n    image: nginx:1.27\n    ulimits:\n      nofile: 1024\n  db:\n    image: redis:7\n")
	env := []string{"HOME=" + dir, "HOIST_CACHE_DIR=off"}
	base := []string{"-f", file, "-p", "shop", "convert", "kubernetes", "--namespace", "shop"}

	out, errOut, err := runHoist(dir, env, base)
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "WARN "+file+":4: service \"web\": ulimits") {
		t.Errorf("no located warning for ulimits:\n%s", errOut)
	}
	if n := strings.Count(out, "\n---\n"); n != 4 { // 2 Services, 1 NetworkPolicy, 2 Deployments
		t.Errorf("%d document separators, want 4 (5 objects):\n%s", n, out)
	}
	if !strings.Contains(out, "kind: Deployment") || !strings.Contains(out, "namespace: shop") {
		t.Errorf("no Deployment in the namespace:\n%s", out)
	}

	out, _, err = runHoist(dir, env, base, "--format", "json", "web")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string
		Items []struct{ Kind string }
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Kind != "List" {
		t.Fatalf("--format json is no List: %v\n%s", err, out)
	}
	var kinds []string
	for _, it := range list.Items {
		kinds = append(kinds, it.Kind)
	}
	if want := []string{"Service", "NetworkPolicy", "Deployment"}; !slices.Equal(kinds, want) {
		t.Errorf("web alone: kinds %v, want %v", kinds, want)
	}

	outDir := filepath.Join(dir, "out")
	out, _, err = runHoist(dir, env, base, "-o", outDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"deployment-web.yaml", "deployment-db.yaml", "service-db.yaml", "service-web.yaml", "networkpolicy-shop-network-default.yaml"} {
		if _, err := os.Stat(filepath.Join(outDir, name)); err != nil {
			t.Errorf("-o: %v (printed %q)", err, out)
		}
	}

	_, _, err = runHoist(dir, env, base, "--strict")
	if err == nil || !strings.Contains(err.Error(), "ulimits") {
		t.Errorf("--strict did not fail on ulimits: %v", err)
	}

	write("services:\n  web:\n    image: nginx:1.27\n    volumes:\n      - ./site:/srv\n")
	_, _, err = runHoist(dir, env, base)
	if err == nil || !strings.Contains(err.Error(), file+":5: service \"web\": bind mount") {
		t.Errorf("a bind mount was not refused with its line: %v", err)
	}
	if _, _, err = runHoist(dir, env, base, "--allow-host-paths"); err != nil {
		t.Errorf("--allow-host-paths: %v", err)
	}
}

// TestConvertKubernetesPush builds a service's image on the docker
// engine, pushes it to a registry on 127.0.0.1 (Debian's docker-registry)
// and requires the manifests to name it by the digest that registry
// serves for its tag.
func TestConvertKubernetesPush(t *testing.T) {
	ctx := context.Background()
	if err := testengine.DockerPing(ctx); err != nil {
		if os.Getenv("HOIST_REQUIRE_DOCKER") == "1" {
			t.Fatalf("docker: %v", err)
		}
		t.Skipf("no docker (%v); CI (HOIST_REQUIRE_DOCKER=1) requires it", err)
	}
	registryBin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("HOIST_REQUIRE_DOCKER") == "1" {
			t.Fatalf("docker-registry (Debian's package) is needed: %v", err)
		}
		t.Skipf("no docker-registry (%v)", err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "registry.yml")
	writeTestFile(t, cfg, "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "+filepath.Join(dir, "registry")+"\nhttp:\n  addr: "+addr+"\n")
	reg := exec.Command(registryBin, "serve", cfg)
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = reg.Process.Kill()
		_ = reg.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	ref := addr + "/hoist-test/convert-push:1"
	writeTestFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY hello /hello\n")
	writeTestFile(t, filepath.Join(dir, "hello"), "built at "+time.Now().String()+"\n")
	writeTestFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  web:\n    build: .\n    image: "+ref+"\n    command: [\"/hello\"]\n")
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "-f", ref).Run() })
	env := []string{"HOME=" + dir, "HOIST_CACHE_DIR=off", "PATH=" + os.Getenv("PATH")}
	out, errOut, err := runHoist(dir, env, []string{"-f", filepath.Join(dir, "compose.yaml"), "--engine", "docker", "--progress", "quiet",
		"convert", "kubernetes", "--push", "--namespace", "shop"})
	if err != nil {
		t.Fatalf("convert --push: %v\n%s", err, errOut)
	}

	req, _ := http.NewRequest("HEAD", "http://"+addr+"/v2/hoist-test/convert-push/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	dg := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(dg, "sha256:") {
		t.Fatalf("the registry has no %s: %d %q", ref, resp.StatusCode, dg)
	}
	t.Logf("the manifests run %s@%s", ref, dg)
	if want := "image: " + ref + "@" + dg; !strings.Contains(out, want) {
		t.Errorf("the manifests do not run %s@%s:\n%s", ref, dg, out)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
