package escape

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/testengine"
)

// project is one compose project on one engine, in its own directory.
// newProject registers its down and the check that nothing of it is left.
type project struct {
	t      *testing.T
	engine string
	name   string
	dir    string
}

func newProject(t *testing.T, engine, dir, prefix string) *project {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &project{t: t, engine: engine, name: prefix + "-" + randHex(4), dir: dir}
	t.Cleanup(p.down)
	return p
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// cmdEnv is the environment of hoist on engine: the native engine runs
// with no docker API at all, so it cannot lean on dockerd by mistake.
func cmdEnv(engine string) []string {
	e := append(os.Environ(), "HOIST_ENGINE="+engine)
	if engine == "native" {
		e = append(e, "DOCKER_HOST=unix:///nonexistent")
	}
	return e
}

// command is hoist ARGS for the project, in its directory.
func (p *project) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, env.hoistBin, append([]string{"-p", p.name, "--progress", "plain"}, args...)...)
	cmd.Dir = p.dir
	cmd.Env = cmdEnv(p.engine)
	return cmd
}

// hoist runs hoist ARGS with no terminal and returns stdout, failing the
// test on an error.
func (p *project) hoist(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatalf("%s: hoist %s: %v", p.engine, strings.Join(args, " "), err)
	}
	return out
}

// try runs hoist ARGS with no terminal; the error holds stderr.
func (p *project) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := p.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%w\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

// down removes the project (volumes, images built for it) and checks
// that nothing of it is left on the host.
func (p *project) down() {
	t := p.t
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ids []string
	if out, err := p.try("ps", "-a", "-q"); err == nil {
		ids = strings.Fields(out)
	}
	// From the project's directory: --rmi local needs the compose file
	// to know the images built for its services.
	cmd := p.command(ctx, "down", "-v", "--remove-orphans", "-t", "0", "--rmi", "local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cleanup: hoist --engine %s -p %s down: %v\n%s", p.engine, p.name, err, out)
	}
	// Images built for the project's services: down --rmi local removes
	// only those of services that have a container (docker compose
	// removes them all), so remove the rest by name.
	left := p.removeImages()
	if p.engine == "docker" {
		left += testengine.DockerLeftovers(ctx, p.name)
	} else {
		left += testengine.NativeLeftovers(p.name, ids)
		// The builder's networks are a build's, not the project's.
		left += testengine.NativeBuildLeftovers(testengine.NativeRunDir, 0)
	}
	if left != "" {
		t.Errorf("cleanup: %s project %s left behind:\n%s", p.engine, p.name, left)
	}
}

// removeImages removes the images named <project>-*, and lists those it
// could not remove.
func (p *project) removeImages() string {
	list := func() []string {
		out, err := p.try("image", "ls")
		if err != nil {
			return []string{"image ls: " + err.Error()}
		}
		var refs []string
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && strings.HasPrefix(f[0], p.name+"-") {
				refs = append(refs, f[0]+":"+f[1])
			}
		}
		return refs
	}
	for _, ref := range list() {
		p.try("image", "rm", ref)
	}
	if left := list(); len(left) > 0 {
		return "images: " + strings.Join(left, " ") + "\n"
	}
	return ""
}

// writeJSON writes v as path; JSON is YAML, so it serves as compose.yaml
// with commands that need no quoting rules.
func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it is true or timeout passes; every wait in
// the battery has a deadline and none sleeps a fixed time for an effect.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileHash(path string) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "missing"
	}
	if err != nil {
		return "unreadable: " + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// initBinaries are the host files a container's init runs from: Docker's
// docker-init, the native engine's immutable copies, the hoist binary
// (whose sealed memfd copy is the init when no init is embedded) and the
// probe (bind-mounted read-only). Hashed before and after the attempts.
func initBinaries() map[string]string {
	files := map[string]string{}
	if p, err := exec.LookPath("docker-init"); err == nil {
		files[p] = fileHash(p)
	}
	copies, _ := filepath.Glob("/var/lib/hoist/init/hoist-init-*")
	for _, p := range append(copies, env.hoistBin, env.probeBin) {
		files[p] = fileHash(p)
	}
	return files
}

// loopDevice attaches a file holding secret (at offset 0) to a free loop
// device and detaches it when the test ends.
type loopDevice struct {
	file   string
	dev    string // /dev/loopN
	majMin string // MAJ:MIN
	secret string
	orig   []byte
}

func attachLoop(t *testing.T, dir string) *loopDevice {
	t.Helper()
	l := &loopDevice{file: filepath.Join(dir, "loop.img"), secret: "HOIST-LOOP-SECRET-" + randHex(6)}
	l.orig = make([]byte, 1<<20)
	copy(l.orig, l.secret)
	if err := os.WriteFile(l.file, l.orig, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", l.file).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup --find --show %s: %v: %s", l.file, err, out)
	}
	l.dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", l.dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", l.dev, err, out)
		}
	})
	var st unix.Stat_t
	if err := unix.Stat(l.dev, &st); err != nil {
		t.Fatal(err)
	}
	l.majMin = fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	return l
}

// unchanged reports how the backing file differs from what was written,
// "" when it does not.
func (l *loopDevice) unchanged() string {
	b, err := os.ReadFile(l.file)
	if err != nil {
		return err.Error()
	}
	if !bytes.Equal(b, l.orig) {
		n := 64
		if len(b) < n {
			n = len(b)
		}
		return fmt.Sprintf("the loop device's backing file changed; it now starts with %q", b[:n])
	}
	return ""
}
