package runtime

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testimage"
)

func TestMain(m *testing.M) {
	if MaybeInit() {
		return
	}
	os.Exit(m.Run())
}

// needRoot skips tests that start real containers.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containers need root")
	}
	if err := testimage.Available(); err != nil {
		t.Skip(err)
	}
}

// newRootfs unpacks the busybox test image into a temporary directory.
func newRootfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := testimage.WriteRootfs(&buf); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tar", "-x", "-C", dir)
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("untar rootfs: %v: %s", err, out)
	}
	return dir
}

func testID(t *testing.T) string {
	id := []byte(t.Name())
	for i, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			id[i] = '-'
		}
	}
	return string(id)
}

// run starts spec, waits for it and returns its exit code and output.
func run(t *testing.T, spec Spec) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	spec.Stdout, spec.Stderr = &stdout, &stderr
	if spec.ID == "" {
		spec.ID = testID(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	code, err := p.Wait()
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := p.Cleanup(); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	return code, stdout.String(), stderr.String()
}

// sh runs a shell script in a default container on rootfs.
func sh(t *testing.T, rootfs, script string) (int, string, string) {
	t.Helper()
	return run(t, Spec{Rootfs: rootfs, Args: []string{"sh", "-c", script}})
}

func TestRunHello(t *testing.T) {
	needRoot(t)
	code, out, errOut := sh(t, newRootfs(t), "echo hello; exit 3")
	if code != 3 || out != "hello\n" {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe to read while os/exec writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
