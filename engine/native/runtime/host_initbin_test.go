package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// buildInitShim builds initshim exactly as the go:generate line in
// host_initbin.go does.
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
	reset := func(open func() (io.ReadCloser, error), digest string) {
		initExec.Lock()
		if initExec.f != nil {
			initExec.f.Close()
			initExec.f = nil
		}
		initImage = open
		initExec.Unlock()
		cachedInit.Lock()
		if cachedInit.f != nil {
			cachedInit.f.Close()
		}
		cachedInit.f, cachedInit.tried = nil, false
		initDigest = digest
		cachedInit.Unlock()
	}
	old, oldDigest := initImage, initDigest
	if image == nil {
		reset(nil, "")
	} else {
		reset(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(image)), nil }, "")
	}
	t.Cleanup(func() { reset(old, oldDigest) })
}

// An embedded init binary older than the sources would run containers
// with yesterday's init: go generate must be rerun.
func TestEmbeddedInitIsCurrent(t *testing.T) {
	if embeddedInit() == nil {
		t.Skip("no embedded init binary (go generate ./engine/native/runtime builds it)")
	}
	emb, err := initbinFS.ReadFile("initbin/hoist-init")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(emb, buildInitShim(t)) {
		t.Fatal("initbin/hoist-init is stale or built differently: run go generate ./engine/native/runtime")
	}
	if sum := sha256.Sum256(emb); initDigest != hex.EncodeToString(sum[:]) {
		t.Fatalf("initbin/hoist-init.sha256 says %q, the binary's digest is %x: run go generate ./engine/native/runtime", initDigest, sum)
	}
}

// The container tests ran with one init binary (the embedded one when
// present); they run here again with the other one.
func TestOtherInitBinary(t *testing.T) {
	needRoot(t)
	if initImage != nil {
		useInit(t, nil)
	} else {
		useInit(t, buildInitShim(t))
	}
	t.Logf("init binary: embedded shim %v", initImage != nil)
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
