package main

import (
	"bytes"
	"context"
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
