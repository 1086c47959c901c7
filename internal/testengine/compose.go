package testengine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ComposeVersion is the docker compose release the conformance tests
// compare hoist with.
const ComposeVersion = "v5.5.0"

const composeModule = "github.com/docker/compose/v5"

// DockerCompose returns the path of a docker compose ComposeVersion binary,
// built from its Go module into cacheDir the first time (about three
// minutes with a cold build cache) and reused after. Concurrent callers,
// in this process or others, wait for one build.
func DockerCompose(ctx context.Context, cacheDir string) (string, error) {
	bin := filepath.Join(cacheDir, "docker-compose-"+ComposeVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // built by the holder of the lock before us
	}
	out, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", composeModule+"@"+ComposeVersion).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", composeModule, ComposeVersion, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: no directory (%s): %v", composeModule, ComposeVersion, mod.Error, err)
	}
	tmp := bin + ".tmp"
	build := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-w -X "+composeModule+"/internal.Version="+ComposeVersion, "-o", tmp, "./cmd")
	build.Dir = mod.Dir
	// The module's own go.mod and go.sum decide its dependencies, not a
	// workspace or flags of the caller's.
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build docker compose %s: %v\n%s", ComposeVersion, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}
