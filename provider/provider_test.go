package provider

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/internal/testengine"
)

// testProvider builds internal/testprovider as dir/name.
func testProvider(t *testing.T, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	if err := testengine.BuildStatic(context.Background(), "../", "./internal/testprovider", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

func service(name string, opts map[string][]string) types.ServiceConfig {
	return types.ServiceConfig{Name: name, Provider: &types.ServiceProviderConfig{Type: "hoist-test-provider", Options: opts}}
}

// The provider is run with docker compose's arguments and the project's
// environment; what it sets comes back, its info messages are reported,
// and down undoes up.
func TestUpDown(t *testing.T) {
	bin := t.TempDir()
	testProvider(t, bin, "hoist-test-provider")
	state := t.TempDir()
	var reports []string
	r := Runner{
		Project: "proj",
		Environ: []string{"PATH=" + bin, "HOME=" + t.TempDir(), "PROVIDER_PROBE=from-project"},
		Report:  func(service, kind, msg string) { reports = append(reports, service+" "+kind+" "+msg) },
	}
	s := service("model", map[string][]string{"state": {state}, "greeting": {"hi there"}, "undeclared": {"x"}})
	vars, err := r.Up(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := Variables{Prefixed: map[string]string{"URL": "http://model.invalid:1234/proj", "GREETING": "hi there"}, Raw: map[string]string{"RAW_GREETING": "hi there"}}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("variables %v, want %v", vars, want)
	}
	if got := vars.Env("model"); !reflect.DeepEqual(got, map[string]string{"MODEL_URL": "http://model.invalid:1234/proj", "MODEL_GREETING": "hi there", "RAW_GREETING": "hi there"}) {
		t.Errorf("env %v", got)
	}
	record, err := os.ReadFile(filepath.Join(state, "proj-model"))
	if err != nil {
		t.Fatal(err)
	}
	// The option its metadata does not list is not passed.
	wantRecord := "project=proj\ncommand=up\nservice=model\noptions=--greeting=hi there --state=" + state + "\nprobe=from-project\n"
	if string(record) != wantRecord {
		t.Errorf("record:\n%s\nwant:\n%s", record, wantRecord)
	}
	if got := strings.Join(reports, "\n"); got != "model info starting model\nmodel debug options [\"--greeting=hi there\" \"--state="+state+"\"]\nmodel info model is ready" {
		t.Errorf("reports:\n%s", got)
	}
	if err := r.Down(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "proj-model")); !os.IsNotExist(err) {
		t.Errorf("down left the record: %v", err)
	}
}

// A provider's error message is the error; an option its metadata
// requires must be set; an unknown provider is said to be missing.
func TestFailures(t *testing.T) {
	bin := t.TempDir()
	testProvider(t, bin, "hoist-test-provider")
	r := Runner{Project: "proj", Environ: []string{"PATH=" + bin}}
	_, err := r.Up(context.Background(), service("model", map[string][]string{"state": {t.TempDir()}, "fail": {"no GPU here"}}))
	if err == nil || err.Error() != `provider service "model": up: no GPU here` {
		t.Errorf("failing provider: %v", err)
	}
	_, err = r.Up(context.Background(), service("model", nil))
	if err == nil || !strings.Contains(err.Error(), `option "state", which hoist-test-provider requires for up, is not set`) {
		t.Errorf("missing required option: %v", err)
	}
	s := service("model", nil)
	s.Provider.Type = "no-such-provider"
	_, err = r.Up(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), `provider "no-such-provider" is neither a docker CLI plugin (docker-no-such-provider) nor on PATH`) {
		t.Errorf("unknown provider: %v", err)
	}
}

// Find prefers a docker CLI plugin (from the config's extra directories,
// then the user's cli-plugins) over PATH, as the docker CLI and docker
// compose look them up.
func TestFind(t *testing.T) {
	home, path, extra := t.TempDir(), t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(path, "prov"), filepath.Join(home, ".docker", "cli-plugins", "docker-prov"), filepath.Join(extra, "docker-prov")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"HOME=" + home, "PATH=" + path}
	if got, err := Find("prov", env); err != nil || got != filepath.Join(home, ".docker", "cli-plugins", "docker-prov") {
		t.Errorf("Find = %q, %v; want the user's plugin", got, err)
	}
	cfg := `{"cliPluginsExtraDirs": ["` + extra + `"]}`
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Find("prov", env); err != nil || got != filepath.Join(extra, "docker-prov") {
		t.Errorf("Find = %q, %v; want the extra directory's plugin", got, err)
	}
	if got, err := Find("prov", []string{"HOME=" + t.TempDir(), "PATH=" + path}); err != nil || got != filepath.Join(path, "prov") {
		t.Errorf("Find = %q, %v; want PATH's", got, err)
	}
	if _, err := Find("compose", env); err == nil {
		t.Error("compose is accepted as a provider type")
	}
}
