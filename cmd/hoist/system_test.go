package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemInstall: with systemd, install writes hoist.service running
// this binary's system boot (with the store's locations when set) and
// enables it through systemctl; without, it says so and prints the
// OpenRC and cron alternatives.
func TestSystemInstall(t *testing.T) {
	dir := t.TempDir()
	sdRun := filepath.Join(dir, "run-systemd")
	unitDir := filepath.Join(dir, "units")
	calls := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "systemctl")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{unitDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		a := &app{stdout: &out, stderr: &out, killCtx: context.Background(),
			environ: []string{"HOIST_SYSTEMD_RUN_DIR=" + sdRun, "HOIST_SYSTEMCTL=" + fake, "HOIST_ROOT=/srv/hoist"}}
		root := newRoot(a)
		root.SetArgs(args)
		root.SetOut(&out)
		err := root.Execute()
		return out.String(), err
	}
	out, err := run("system", "install", "--unit-dir", unitDir)
	if err == nil || !strings.Contains(out, "does not run systemd") || !strings.Contains(out, "rc-update add local default") || !strings.Contains(out, "@reboot root ") {
		t.Errorf("without systemd: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(unitDir, "hoist.service")); err == nil {
		t.Error("unit written without systemd")
	}

	if err := os.MkdirAll(sdRun, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := run("system", "install", "--unit-dir", unitDir); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	unit, err := os.ReadFile(filepath.Join(unitDir, "hoist.service"))
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	for _, want := range []string{"\nExecStart=" + self + " --engine native system boot\n", "\nEnvironment=HOIST_ROOT=/srv/hoist\n", "\nWantedBy=multi-user.target\n", "\nType=oneshot\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(string(unit), "@") {
		t.Errorf("unit has a placeholder left:\n%s", unit)
	}
	if got, _ := os.ReadFile(calls); string(got) != "daemon-reload\nenable hoist.service\n" {
		t.Errorf("systemctl calls: %q", got)
	}
	verifyUnit(t, filepath.Join(unitDir, "hoist.service"))
}

// verifyUnit has systemd read the unit at path as it would at boot
// (systemd-analyze verify): a key it cannot parse is only a warning on
// stderr to it, so any output fails the test, as does a failure.
func verifyUnit(t *testing.T, path string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("HOIST_REQUIRE_NATIVE") == "1" {
			t.Fatalf("HOIST_REQUIRE_NATIVE=1: no systemd-analyze to verify hoist.service: %v", err)
		}
		t.Skipf("no systemd-analyze to verify hoist.service: %v", err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
	}
}
