package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/hoist-dev/hoist/internal/testengine"
)

// TestConfigMatchesDockerCompose runs `hoist config` and `docker compose
// config` (testengine.ComposeVersion, built once into the user's cache) on
// each testdata/config/*.txtar and requires the same output. An archive's
// comment gives, one per line:
//
//	args: ARGS...    the arguments after -f compose.yaml -p golden; each
//	                 line is one comparison
//	warn: REGEXP     a WARN line hoist must print (every WARN line must
//	                 match one)
//	refuse: ARGS...  a command hoist must refuse, for each of the warnings
//	                 (such commands only plan: the refusal comes before
//	                 anything is created)
//	noreload: WHY    the output does not load again (docker compose's
//	                 does not either)
//
// Every YAML output is then loaded again by hoist, which must print it
// unchanged: what `config` prints means what its input meant.
func TestConfigMatchesDockerCompose(t *testing.T) {
	dc := dockerComposeForTest(t)
	archives, err := filepath.Glob("testdata/config/*.txtar")
	if err != nil || len(archives) == 0 {
		t.Fatalf("no testdata/config archives: %v", err)
	}
	// Only what the archives set: the comparison must not depend on the
	// machine's environment.
	environ := []string{"FROM_ENV=from-env", "USER=tester", "HOME=/home/tester"}
	for _, path := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, f := range ar.Files {
				name := filepath.Join(dir, f.Name)
				if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(name, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var argLines, warns, refusals [][]string
			reload := true
			for _, line := range strings.Split(string(ar.Comment), "\n") {
				k, v, ok := strings.Cut(line, ": ")
				switch {
				case !ok:
				case k == "args":
					argLines = append(argLines, strings.Fields(v))
				case k == "warn":
					warns = append(warns, []string{v})
				case k == "refuse":
					refusals = append(refusals, strings.Fields(v))
				case k == "noreload":
					reload = false
				}
			}
			if len(argLines) == 0 {
				t.Fatal("the archive's comment has no args: line")
			}
			base := []string{"-f", filepath.Join(dir, "compose.yaml"), "-p", "golden"}
			for _, args := range argLines {
				full := append(append([]string(nil), base...), args...)
				want, err := runDockerCompose(dc, dir, environ, full)
				if err != nil {
					t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, want)
				}
				got, stderr, err := runHoist(dir, environ, full)
				if err != nil {
					t.Fatalf("hoist %s: %v\n%s", strings.Join(args, " "), err, stderr)
				}
				if got != want {
					t.Errorf("hoist %s differs from docker compose's:\n%s", strings.Join(args, " "), lineDiff(want, got))
				}
				checkWarnings(t, stderr, warns)
				if reload && args[len(args)-1] == "config" {
					again := filepath.Join(dir, "again.yaml")
					if err := os.WriteFile(again, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					out, stderr, err := runHoist(dir, environ, append([]string{"-f", again, "-p", "golden"}, args[:len(args)-1]...), "config")
					if err != nil {
						t.Fatalf("hoist config of its own output: %v\n%s", err, stderr)
					}
					if out != got {
						t.Errorf("hoist config of its own output differs:\n%s", lineDiff(got, out))
					}
				}
			}
			// What config warns of, the refusing command refuses for.
			for _, args := range refusals {
				out, stderr, err := runHoist(dir, environ, append(append([]string(nil), base...), args...))
				if err == nil {
					t.Errorf("hoist %s accepted the project:\n%s%s", strings.Join(args, " "), out, stderr)
					continue
				}
				for _, w := range warns {
					if !regexp.MustCompile(w[0]).MatchString(err.Error()) {
						t.Errorf("hoist %s refused, but not for %q: %v", strings.Join(args, " "), w[0], err)
					}
				}
			}
		})
	}
}

// checkWarnings requires each pattern to match a WARN line of stderr, and
// each WARN line to match a pattern.
func checkWarnings(t *testing.T, stderr string, patterns [][]string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "WARN ") {
			lines = append(lines, l)
		}
	}
	matched := make([]bool, len(lines))
	for _, p := range patterns {
		re := regexp.MustCompile(p[0])
		found := false
		for i, l := range lines {
			if re.MatchString(l) {
				found, matched[i] = true, true
			}
		}
		if !found {
			t.Errorf("no warning matches %q in:\n%s", p[0], stderr)
		}
	}
	for i, l := range lines {
		if !matched[i] {
			t.Errorf("unexpected warning: %s", l)
		}
	}
}

func runHoist(dir string, environ, args []string, more ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, environ: environ, killCtx: context.Background()}
	root := newRoot(a)
	root.SetArgs(rewriteArgs(append(append([]string(nil), args...), more...)))
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.Execute()
	return out.String(), errb.String(), err
}

func runDockerCompose(bin, dir string, environ, args []string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(environ, "PATH="+os.Getenv("PATH"), "DOCKER_CONFIG="+filepath.Join(dir, ".docker"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return errb.String(), err
	}
	return out.String(), nil
}

// dockerComposeForTest builds (once, into the user's cache) the docker
// compose the tests compare hoist with. Where it cannot be built the test
// fails in CI (HOIST_REQUIRE_DOCKER=1) and is skipped, saying why,
// elsewhere.
func dockerComposeForTest(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		var bin string
		if bin, err = testengine.DockerCompose(ctx, filepath.Join(cache, "hoist", "compose")); err == nil {
			return bin
		}
	}
	if os.Getenv("HOIST_REQUIRE_DOCKER") == "1" {
		t.Fatalf("docker compose %s, which the test compares hoist with: %v", testengine.ComposeVersion, err)
	}
	t.Skipf("docker compose %s cannot be built here (%v); CI (HOIST_REQUIRE_DOCKER=1) requires it", testengine.ComposeVersion, err)
	return ""
}

// lineDiff shows the first lines where got departs from want.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl == gl {
			continue
		}
		b.WriteString("line " + strconv.Itoa(i+1) + ":\n  docker compose: " + wl + "\n  hoist:          " + gl + "\n")
		if shown++; shown == 8 {
			b.WriteString("...\n")
			break
		}
	}
	return b.String()
}
