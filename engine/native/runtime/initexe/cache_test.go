package initexe

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/testimage"
)

// needRoot skips tests that need root (and, as the runtime's tests, the
// test image's busybox).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containers need root")
	}
	if err := testimage.Available(); err != nil {
		t.Skip(err)
	}
}

// releaseImmutable lets t.TempDir's cleanup remove the immutable files
// left in dir (registered after TempDir, so it runs first).
func releaseImmutable(t *testing.T, dir string) {
	t.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			clearImmutable(filepath.Join(dir, e.Name()))
		}
	})
}

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
	return flags&fsImmutableFL != 0
}

func TestInitCacheFile(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	releaseImmutable(t, dir)
	content := []byte("#!/bin/sh\necho cached\n")
	image := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }
	// Copies of other builds: one to be dropped, one that a process
	// (this one) holds open, to be kept.
	old, busy := filepath.Join(dir, "hoist-init-old"), filepath.Join(dir, "hoist-init-busy")
	for _, p := range []string{old, busy} {
		if err := os.WriteFile(p, []byte("old"), 0o500); err != nil {
			t.Fatal(err)
		}
		of, _ := os.Open(p)
		if err := setImmutable(of); err != nil {
			t.Skipf("this file system has no immutable flag: %v", err)
		}
		of.Close()
	}
	held, err := os.Open(busy)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	f, err := openInitCache(dir, "abc", image)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	path := filepath.Join(dir, "hoist-init-abc")
	if !immutable(t, path) {
		t.Fatal("cached init is not immutable")
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, content) {
		t.Fatalf("cached init holds %q", b)
	}
	// Root cannot open it for writing: the CVE-2019-5736 write through
	// /proc/<pid>/exe fails the same way.
	if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil || !errors.Is(err, syscall.EPERM) {
		if w != nil {
			w.Close()
		}
		t.Fatalf("opening the cached init for writing: %v, want EPERM", err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("another build's unused copy was kept: %v", err)
	}
	if !immutable(t, busy) {
		t.Error("a copy in use lost its immutability")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("cache dir holds %d entries, want this copy and the one in use", len(ents))
	}
	// The next process opens the same file.
	g, err := openInitCache(dir, "abc", func() (io.ReadCloser, error) { return nil, errors.New("must not copy again") })
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	// A file that is not immutable is not trusted.
	plain := filepath.Join(dir, "hoist-init-plain")
	if err := os.WriteFile(plain, content, 0o500); err != nil {
		t.Fatal(err)
	}
	if _, err := openImmutable(plain); err == nil {
		t.Error("a mutable cached init was accepted")
	}
}
