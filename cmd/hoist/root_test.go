package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandParses runs `--help` on every command: cobra panics at
// parse time when a command's flag clashes with a persistent one, which
// once broke every `hoist logs`.
func TestEveryCommandParses(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, killCtx: context.Background()}
	var paths [][]string
	var walk func(c *cobra.Command, prefix []string)
	walk = func(c *cobra.Command, prefix []string) {
		for _, sub := range c.Commands() {
			p := append(append([]string(nil), prefix...), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(newRoot(a), nil)
	if len(paths) < 20 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, p := range paths {
		t.Run(strings.Join(p, "_"), func(t *testing.T) {
			root := newRoot(a)
			root.SetArgs(rewriteArgs(append(append([]string(nil), p...), "--help")))
			root.SetOut(&out)
			root.SetErr(&out)
			if err := root.Execute(); err != nil {
				t.Fatalf("%v: %v", p, err)
			}
		})
	}
}

func TestConfigListsAndVersion(t *testing.T) {
	dir := t.TempDir()
	compose := "services:\n  web:\n    build: .\n  db:\n    image: redis:7\n  dbg:\n    image: busybox\n    profiles: [debug, tools]\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		a := &app{stdout: &out, stderr: &out, killCtx: context.Background()}
		root := newRoot(a)
		root.SetArgs(rewriteArgs(append([]string{"-f", filepath.Join(dir, "compose.yaml"), "-p", "p"}, args...)))
		root.SetOut(&out)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	if got := run("config", "--images"); got != "redis:7\np-web\n" {
		t.Errorf("--images: %q", got)
	}
	if got := run("config", "--profiles"); got != "debug\ntools\n" {
		t.Errorf("--profiles: %q", got)
	}
	if got := run("config", "--hash", "*"); !regexp.MustCompile(`^db [0-9a-f]{64}\nweb [0-9a-f]{64}\n$`).MatchString(got) {
		t.Errorf("--hash: %q", got)
	}
	if got := run("--version"); got != "hoist version "+version+"\n" {
		t.Errorf("--version: %q", got)
	}
}
