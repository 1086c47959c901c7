package runcache

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	key := func(args []string, cwd string, env ...string) string {
		k, err := Key(args, cwd, env, exe)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key([]string{"run", "--rm", "box", "true"}, "/p", "A=1", "B=2", "_=/usr/bin/hoist")
	if key([]string{"run", "--rm", "box", "true"}, "/p", "B=2", "_=/bin/other", "A=1", "HOIST_FASTRUN=require") != base {
		t.Error("the environment's order, the shell's _ or HOIST_FASTRUN changed the key")
	}
	for name, k := range map[string]string{
		"args":      key([]string{"run", "--rm", "box", "false"}, "/p", "A=1", "B=2"),
		"arg split": key([]string{"run", "--rm", "box true"}, "/p", "A=1", "B=2"),
		"cwd":       key([]string{"run", "--rm", "box", "true"}, "/q", "A=1", "B=2"),
		"env value": key([]string{"run", "--rm", "box", "true"}, "/p", "A=1", "B=3"),
		"env added": key([]string{"run", "--rm", "box", "true"}, "/p", "A=1", "B=2", "C="),
	} {
		if k == base {
			t.Errorf("a different %s gave the same key", name)
		}
	}
	if _, err := Key(nil, "/", nil, filepath.Join(t.TempDir(), "gone")); err == nil {
		t.Error("a missing executable gave a key")
	}
}

func TestLookupSeesEveryInput(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	compose := filepath.Join(files, "compose.yaml")
	override := filepath.Join(files, "compose.override.yaml") // absent
	if err := os.WriteFile(compose, []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	save := func() {
		t.Helper()
		e := Entry{Record: []byte(`{"id":"x"}`), Root: "/r", RunDir: "/run/r", RandomName: true}
		if err := Save(dir, "k", e, []string{compose, override, compose}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	save()
	e, ok := Lookup(dir, "k")
	if !ok || string(e.Record) != `{"id":"x"}` || e.Root != "/r" || e.RunDir != "/run/r" || !e.RandomName || len(e.Inputs) != 2 {
		t.Fatalf("Lookup = %+v, %v", e, ok)
	}
	if _, ok := Lookup(dir, "other"); ok {
		t.Error("found an entry under another key")
	}
	// An edit, an appearing file and a removal each make it stale.
	for name, change := range map[string]func() error{
		"edited":   func() error { return os.WriteFile(compose, []byte("services: {a: {}}\n"), 0o644) },
		"appeared": func() error { return os.WriteFile(override, nil, 0o644) },
		"removed":  func() error { return os.Remove(compose) },
	} {
		save()
		if err := change(); err != nil {
			t.Fatal(err)
		}
		if _, ok := Lookup(dir, "k"); ok {
			t.Errorf("%s: the entry was still used", name)
		}
		os.Remove(override)
		if err := os.WriteFile(compose, []byte("services: {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSaveRefusesInputsChangedDuringTheRun(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	f := filepath.Join(files, ".env")
	since := time.Now()
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(f, []byte("A=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Save(dir, "k", Entry{}, []string{f}, since); !errors.Is(err, ErrChanged) {
		t.Errorf("a file written after since: %v", err)
	}
	// An absent input whose directory changed: it may have existed.
	if err := Save(dir, "k", Entry{}, []string{filepath.Join(files, "gone")}, since); !errors.Is(err, ErrChanged) {
		t.Errorf("an absent file in a changed dir: %v", err)
	}
	if _, ok := Lookup(dir, "k"); ok {
		t.Error("an entry was saved")
	}
	if err := Save(dir, "k", Entry{}, []string{f}, time.Now()); err != nil {
		t.Errorf("unchanged since: %v", err)
	}
}

func TestSaveBoundsTheCache(t *testing.T) {
	dir := t.TempDir()
	for i := range maxEntries + 10 {
		if err := Save(dir, "k"+string(rune('a'+i%26))+time.Now().Format("150405.000000000"), Entry{}, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > maxEntries {
		t.Errorf("%d entries kept", len(ents))
	}
}
