package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/initexe"
)

// buildInitShim builds initshim exactly as the go:generate line in
// generate.go does.
func buildInitShim(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hoist-init")
	cmd := exec.Command("go", "build", "-tags", "hoistinit", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./initshim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build initshim: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// useInit makes the containers started until the test ends run their
// container-side roles from image (nil: from the test binary itself),
// always from a memfd: the immutable cache holds the embedded binary only.
func useInit(t *testing.T, image []byte) {
	t.Helper()
	other := &initexe.Binary{}
	if image != nil {
		other.Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(image)), nil }
	}
	old := initBinary
	initBinary = other
	t.Cleanup(func() {
		initBinary = old
		other.Close()
	})
}

// An embedded init binary older than the sources would run containers
// with yesterday's init: go generate must be rerun.
func TestEmbeddedInitIsCurrent(t *testing.T) {
	bin := initexe.Embedded()
	if bin.Open == nil {
		t.Skip("no embedded init binary (go generate ./engine/native/runtime builds it)")
	}
	r, err := bin.Open()
	if err != nil {
		t.Fatal(err)
	}
	emb, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(emb, buildInitShim(t)) {
		t.Fatal("initexe/initbin/hoist-init is stale or built differently: run go generate ./engine/native/runtime")
	}
	if sum := sha256.Sum256(emb); bin.Digest != hex.EncodeToString(sum[:]) {
		t.Fatalf("initexe/initbin/hoist-init.sha256 says %q, the binary's digest is %x: run go generate ./engine/native/runtime", bin.Digest, sum)
	}
}

// The init binary links the container side only: a package of the
// host's (cgroups, the init executables, the seccomp profile compiler and
// the libraries it needs) would make the init bigger and every container
// start slower. A dependency added on purpose is added here too.
func TestInitShimLinksContainerSideOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "hoistinit", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./initshim").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/hoist-dev/hoist/"
	allowed := map[string]bool{
		mod + "engine/native/runtime": true, mod + "engine/native/runtime/initshim": true,
		mod + "engine/native/runtime/caps": true, mod + "engine/native/runtime/seccomp": true,
		mod + "engine/native/runtime/stdio": true, mod + "engine/native/runtime/user": true,
		mod + "internal/devicerule": true, mod + "internal/inroot": true, mod + "internal/overlay": true,
		// A container in a user namespace binds the host's device nodes instead
		// of making them: a stdlib-only test of /proc/self/uid_map.
		mod + "internal/userns": true,
		mod + "runspec":         true,
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(allowed) {
		t.Fatalf("go list found only %v", deps)
	}
	for _, dep := range deps {
		if !allowed[dep] && !strings.HasPrefix(dep, "golang.org/x/sys/") {
			t.Errorf("initshim links %s", dep)
		}
	}
}

// The container tests ran with one init binary (the embedded one when
// present); they run here again with the other one.
func TestOtherInitBinary(t *testing.T) {
	needRoot(t)
	if initBinary.Open != nil {
		useInit(t, nil)
	} else {
		useInit(t, buildInitShim(t))
	}
	t.Logf("init binary: embedded shim %v", initBinary.Open != nil)
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"RunHello", TestRunHello},
		{"DefaultContainerSecurity", TestDefaultContainerSecurity},
		{"NonRootUser", TestNonRootUser},
		{"CapAddDropPrivileged", TestCapAddDropPrivileged},
		{"MountTargetSymlinkStaysInRootfs", TestMountTargetSymlinkStaysInRootfs},
		{"InitReapsForwardsAndHidesBinary", TestInitReapsForwardsAndHidesBinary},
		{"InitCommandIsConfined", TestInitCommandIsConfined},
		{"Exec", TestExec},
		{"ExecTTY", TestExecTTY},
		{"StartTTY", TestStartTTY},
		{"SpecOptions", TestSpecOptions},
		{"CgroupLimitsAndCleanup", TestCgroupLimitsAndCleanup},
	} {
		t.Run(tc.name, tc.f)
	}
}

// A configuration field the init does not know is refused, not ignored:
// it may be a security setting newer than the init binary.
func TestInitRefusesUnknownConfig(t *testing.T) {
	var cfg initConfig
	dec := []byte(`{"id":"x","rootfs":"/r","args":["true"],"security":{},"resources":{},"network":{},"masked_paths":null,"readonly_paths":null,"new_setting":true}`)
	if err := decodeConfig(dec, &cfg); err == nil {
		t.Fatal("unknown field accepted")
	}
	if err := decodeConfig(bytes.Replace(dec, []byte(`,"new_setting":true`), nil, 1), &cfg); err != nil {
		t.Fatal(err)
	}
}

// Containers run their init from the immutable copy unless they hold
// CAP_LINUX_IMMUTABLE (or are privileged), which could undo it: those get
// a private memfd.
func TestInitRunsFromCacheUnlessContainerCanClearIt(t *testing.T) {
	needRoot(t)
	if initBinary.Open == nil || initBinary.Digest == "" {
		t.Skip("no embedded init binary (go generate ./engine/native/runtime builds it)")
	}
	rootfs := newRootfs(t)
	exeOf := func(sec Security) string {
		t.Helper()
		var out syncBuffer
		p, err := Start(t.Context(), Spec{ID: testID(t) + "-exe", Rootfs: rootfs, Init: true, Security: sec, Stdout: &out,
			Args: []string{"sh", "-c", "echo ready; sleep 5"}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = p.Signal(syscall.SIGKILL)
			_, _ = p.Wait()
			_ = p.Cleanup()
		}()
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		return exe
	}
	want := filepath.Join(initexe.CacheDir, "hoist-init-"+initBinary.Digest)
	if exe := exeOf(Security{}); exe != want {
		t.Errorf("default container's pid 1 runs %q, want %q", exe, want)
	} else if !immutable(t, want) {
		t.Errorf("%s is not immutable", want)
	}
	for _, sec := range []Security{{CapAdd: []string{"LINUX_IMMUTABLE"}}, {Privileged: true}} {
		if exe := exeOf(sec); !strings.HasPrefix(exe, "/memfd:") {
			t.Errorf("container with %+v runs its init from %q, want a memfd", sec, exe)
		}
	}
}

// immutable reports whether path has the immutable flag (chattr +i).
func immutable(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Fatal(err)
	}
	const fsImmutableFL = 0x10 // FS_IMMUTABLE_FL of linux/fs.h
	return flags&fsImmutableFL != 0
}
