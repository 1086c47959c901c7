package e2e

import (
	"bufio"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// composeName maps a command of docker compose to hoist's name for it:
// docker compose's converter is bridge, hoist's is convert.
var composeName = map[string]string{"bridge": "convert"}

// helpCommands are the command names a cobra --help lists (under
// "Commands:", "Management Commands:" and "Available Commands:").
func helpCommands(t *testing.T, out string) []string {
	t.Helper()
	var names []string
	listing := false
	word := regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s`)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasSuffix(line, "Commands:"):
			listing = true
		case line == "":
			listing = false
		case listing:
			if m := word.FindStringSubmatch(line); m != nil {
				names = append(names, m[1])
			}
		}
	}
	slices.Sort(names)
	return names
}

// TestHelpListsComposeCommands: hoist --help lists every command docker
// compose v5's --help lists (convert for bridge), and each one's own
// --help works (a flag that clashes with a global one panics there).
func TestHelpListsComposeCommands(t *testing.T) {
	bin, err := dockerComposeBin()
	if err != nil {
		t.Fatalf("docker compose, which this test compares hoist with: %v", err)
	}
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("docker compose --help: %v\n%s", err, out)
	}
	want := helpCommands(t, string(out))
	if len(want) < 30 {
		t.Fatalf("docker compose --help lists only %q: the parse is wrong", want)
	}
	hout, err := exec.Command(hoistBin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("hoist --help: %v\n%s", err, hout)
	}
	have := helpCommands(t, string(hout))
	for _, c := range want {
		name := c
		if n, ok := composeName[c]; ok {
			name = n
		}
		if !slices.Contains(have, name) {
			t.Errorf("docker compose has %q; hoist --help does not list %q", c, name)
		}
	}
	// Every command's --help, subcommands too (image ls, convert
	// kubernetes, system ...): cobra merges a command's flags with the
	// global ones only when it runs, so a clash shows only there.
	var walk func(path []string)
	walk = func(path []string) {
		args := append(slices.Clone(path), "--help")
		out, err := exec.Command(hoistBin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("hoist %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		for _, c := range helpCommands(t, string(out)) {
			if c != "help" && c != "completion" {
				walk(append(slices.Clone(path), c))
			}
		}
	}
	for _, c := range have {
		walk([]string{c})
	}
}
