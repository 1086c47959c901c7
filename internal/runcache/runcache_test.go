package runcache

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
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

// writeOld writes a file whose ctime is well before now: Digest trusts
// only files that did not change while they were read.
func writeOld(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLookupSeesEveryInput(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	compose := filepath.Join(files, "compose.yaml")
	override := filepath.Join(files, "compose.override.yaml") // absent
	ctx := filepath.Join(files, "ctx")                        // present: a dir
	writeOld(t, compose, "services: {}\n")
	if err := os.Mkdir(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	save := func() {
		t.Helper()
		in, err := Digest([]string{compose, override, compose}, []string{ctx}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e := Entry{Inputs: in, Record: []byte(`{"id":"x"}`), Root: "/r", RunDir: "/run/r", RandomName: true}
		if err := Save(dir, "k", e); err != nil {
			t.Fatal(err)
		}
	}
	save()
	e, ok := Lookup(dir, "k")
	if !ok || string(e.Record) != `{"id":"x"}` || e.Root != "/r" || e.RunDir != "/run/r" || !e.RandomName || len(e.Inputs) != 3 {
		t.Fatalf("Lookup = %+v, %v", e, ok)
	}
	if _, ok := Lookup(dir, "other"); ok {
		t.Error("found an entry under another key")
	}
	// An edit, an appearing file, a removal and a present one gone each
	// make it stale; a present one's content does not.
	for name, c := range map[string]struct {
		change func() error
		stale  bool
	}{
		"edited":           {func() error { return os.WriteFile(compose, []byte("services: {a: {}}\n"), 0o644) }, true},
		"appeared":         {func() error { return os.WriteFile(override, nil, 0o644) }, true},
		"removed":          {func() error { return os.Remove(compose) }, true},
		"present gone":     {func() error { return os.Remove(ctx) }, true},
		"present changed":  {func() error { return os.WriteFile(filepath.Join(ctx, "f"), nil, 0o644) }, false},
		"present replaced": {func() error { return errors.Join(os.Remove(ctx), os.WriteFile(ctx, nil, 0o644)) }, true},
	} {
		save()
		if err := c.change(); err != nil {
			t.Fatal(err)
		}
		if _, ok := Lookup(dir, "k"); ok == c.stale {
			t.Errorf("%s: used %v", name, ok)
		}
		os.Remove(override)
		os.RemoveAll(ctx)
		writeOld(t, compose, "services: {}\n")
		if err := os.Mkdir(ctx, 0o755); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDigestRefusesWhatItCannotCheck(t *testing.T) {
	files := t.TempDir()
	f := filepath.Join(files, ".env")
	since := time.Now()
	writeOld(t, f, "A=1\n")
	if _, err := Digest([]string{f}, nil, since); !errors.Is(err, ErrChanged) {
		t.Errorf("a file written while it was read: %v", err)
	}
	// A pipe (bash's <(...)) is never read: its reader would lose it. Nor
	// does an open of a FIFO without a writer hang.
	fifo := filepath.Join(files, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Digest([]string{fifo}, nil, time.Now()); !errors.Is(err, ErrNotAFile) {
		t.Errorf("a FIFO: %v", err)
	}
	if _, err := Sum(fifo); !errors.Is(err, ErrNotAFile) {
		t.Errorf("Sum of a FIFO: %v", err)
	}
	if _, err := Digest([]string{files}, nil, time.Now()); !errors.Is(err, ErrNotAFile) {
		t.Errorf("a directory: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if in, err := Digest([]string{f, filepath.Join(files, "absent")}, nil, time.Now()); err != nil || len(in) != 2 || in[0].Sum == "" || in[1].Sum != "" {
		t.Errorf("unchanged since: %+v, %v", in, err)
	}
}

func TestSaveBoundsTheCache(t *testing.T) {
	dir := t.TempDir()
	for i := range maxEntries + 10 {
		if err := Save(dir, "k"+string(rune('a'+i%26))+time.Now().Format("150405.000000000"), Entry{}); err != nil {
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

// TestLookupTakesOnlyOwnEntries: an entry is a container record run as
// it is, so one another user wrote (root's HOIST_RUN_DIR pointed at a
// user's run dir, as sudo -E keeps it) or could have rewritten is not
// taken.
func TestLookupTakesOnlyOwnEntries(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, "k", Entry{Root: "/r", RunDir: "/d"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := Lookup(dir, "k"); !ok {
		t.Fatal("own entry not found")
	}
	p := filepath.Join(dir, "k.json")
	if err := os.Chmod(p, 0o620); err != nil {
		t.Fatal(err)
	}
	if _, ok := Lookup(dir, "k"); ok {
		t.Error("an entry its group may write taken")
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p, filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if _, ok := Lookup(dir, "link"); ok {
		t.Error("an entry through a symbolic link taken")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("HOIST_REQUIRE_NATIVE") == "1" {
			t.Fatal("needs root, to give the entry to another uid")
		}
		t.Skip("needs root, to give the entry to another uid")
	}
	if err := os.Chown(p, 54321, 54321); err != nil {
		t.Fatal(err)
	}
	if _, ok := Lookup(dir, "k"); ok {
		t.Error("an entry of uid 54321 taken by root")
	}
}
