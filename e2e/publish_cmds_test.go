package e2e

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/rogpeppe/go-internal/testscript"
)

func init() {
	commands["registry"] = cmdRegistry
}

// registry VAR: an OCI registry in this process on 127.0.0.1 until the
// script ends; VAR is set to its host:port. The images either engine
// holds under that address go with it: a failed script would leave
// them, and no later script can reach that registry again.
func cmdRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: registry VAR")
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	addr := strings.TrimPrefix(reg.URL, "http://")
	ts.Defer(reg.Close)
	ts.Defer(func() { removeRegistryImages(ts, addr) })
	ts.Setenv(args[0], addr)
}

// removeRegistryImages removes the images tagged addr/... from the docker
// engine and from the native one.
func removeRegistryImages(ts *testscript.TestScript, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if dockerOK {
		out, err := exec.CommandContext(ctx, "docker", "images", "--format", "{{.Repository}}:{{.Tag}}").Output()
		if err != nil {
			ts.Logf("docker images: %v", err)
		}
		if refs := withPrefix(string(out), addr+"/"); len(refs) > 0 {
			if out, err := exec.CommandContext(ctx, "docker", append([]string{"rmi", "-f"}, refs...)...).CombinedOutput(); err != nil {
				ts.Logf("docker rmi %v: %v\n%s", refs, err, out)
			}
		}
	}
	if nativeOK {
		native := func(args ...string) *exec.Cmd {
			c := exec.CommandContext(ctx, hoistBin, append([]string{"--engine", "native", "image"}, args...)...)
			c.Env = append(os.Environ(), "DOCKER_HOST=unix:///nonexistent")
			return c
		}
		out, err := native("ls").Output()
		if err != nil {
			ts.Logf("hoist image ls (native): %v", err)
		}
		// The table's first two columns: REPOSITORY TAG.
		var refs []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && strings.HasPrefix(f[0], addr+"/") {
				refs = append(refs, f[0]+":"+f[1])
			}
		}
		if len(refs) > 0 {
			if out, err := native(append([]string{"rm", "--force"}, refs...)...).CombinedOutput(); err != nil {
				ts.Logf("hoist image rm (native) %v: %v\n%s", refs, err, out)
			}
		}
	}
}

// withPrefix returns the whitespace-separated words of s that start with
// prefix.
func withPrefix(s, prefix string) []string {
	var out []string
	for _, w := range strings.Fields(s) {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}
