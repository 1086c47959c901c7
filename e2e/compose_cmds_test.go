package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hoist-dev/hoist/internal/testengine"
)

func init() {
	commands["dockercompose"] = cmdDockerCompose
	commands["started"] = cmdStarted
}

// dockerComposeBin builds docker compose (testengine.ComposeVersion) into
// the user's cache the first time a script needs it (about three minutes
// with a cold Go build cache), and reuses it after.
var dockerComposeBin = sync.OnceValues(func() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	return testengine.DockerCompose(ctx, filepath.Join(cache, "hoist", "compose"))
})

// dockercompose ARGS...: run docker compose with the script's environment
// in its current directory; ! dockercompose: it must fail. A docker
// compose that cannot be built fails the script: the scripts that use it
// compare hoist with it, and must not pass without it.
func cmdDockerCompose(ts *testscript.TestScript, neg bool, args []string) {
	bin, err := dockerComposeBin()
	if err != nil {
		ts.Fatalf("docker compose %s, which this script compares hoist with: %v", testengine.ComposeVersion, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := command(ctx, ts, append([]string{bin}, args...))
	// docker compose reads the CLI's configuration under HOME, which
	// testscript points at a directory that does not exist.
	if home, err := os.UserHomeDir(); err == nil {
		cmd.Env = append(cmd.Env, "HOME="+home)
	}
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	err = cmd.Run()
	switch {
	case neg && err == nil:
		ts.Fatalf("docker compose %s succeeded", strings.Join(args, " "))
	case !neg && err != nil:
		ts.Fatalf("docker compose %s: %v", strings.Join(args, " "), err)
	}
}

// started PROJECT: one "name id started-at" line per container of the
// project, sorted, so that a script can tell that nothing was recreated
// (the IDs) or restarted (the start times) in between.
func cmdStarted(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: started PROJECT")
	}
	out, err := exec.Command("docker", "ps", "-aq", "--no-trunc", "--filter", "label=com.docker.compose.project="+args[0]).Output()
	if err != nil {
		ts.Fatalf("docker ps: %v", err)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return
	}
	out, err = exec.Command("docker", append([]string{"inspect", "--format", "{{.Name}} {{.Id}} {{.State.StartedAt}}"}, ids...)...).CombinedOutput()
	if err != nil {
		ts.Fatalf("docker inspect: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(ts.Stdout(), strings.TrimPrefix(l, "/"))
	}
}
