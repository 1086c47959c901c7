package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
