package reliability

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/testimage"
)

// fill writes zeros to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last bytes too.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
}

// wantDiskFull checks that err is a failure whose stderr is one line
// saying the disk is full and where.
func wantDiskFull(t *testing.T, what, mount, out, errOut string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s worked on a full disk:\n%s", what, out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "hoist: the disk is full: no space left on the file system at "+mount) {
		t.Errorf("%s on a full disk: last line %q, want one saying the disk at %s is full\n%s", what, last, mount, errOut)
	}
}

// TestDiskFull puts the native store and run dir on a small file system
// (a 64 MiB tmpfs made by the test), fills it, and checks that pull (from
// a registry in this process), image import, build and up fail with a one-line error saying the disk is
// full and where, that a container whose log cannot be written keeps
// running and its log notes the loss once there is room again, and that
// after freeing space the next runs work with nothing to repair.
func TestDiskFull(t *testing.T) {
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	mnt := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	h := newHostAt(t, filepath.Join(mnt, "root"), filepath.Join(mnt, "run"))
	// Cleanups run last-registered first: the projects' downs, then this.
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	h.importBusybox()
	talker := h.project("talk", fmt.Sprintf(`
services:
  talker:
    image: %s
    command: ["sh", "-c", "while true; do echo line-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done"]
    init: true
`, testImage))
	talker.hoist("up", "-d", "--wait")
	other := h.project("full", fmt.Sprintf(`
services:
  web:
    image: %[1]s
    command: ["sleep", "3600"]
    init: true
    volumes: [data:/data]
  built:
    build:
      context: .
      dockerfile_inline: |
        FROM %[1]s
        RUN dd if=/dev/zero of=/big bs=1M count=8
    command: ["sleep", "3600"]
    init: true
volumes:
  data: {}
`, testImage))
	// An image in a registry of this process, with a layer of its own
	// (the store has none of its blobs).
	ref := pushRandomImage(t)
	puller := h.project("pull", "services:\n  app:\n    image: "+ref+"\n")
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)

	out, errOut, err := puller.try("pull")
	wantDiskFull(t, "pull", mnt, out, errOut, err)

	var busybox strings.Builder
	if err := testimage.WriteRootfs(&busybox); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = h.run(strings.NewReader(busybox.String()), "", "image", "import", "-", "other:1")
	wantDiskFull(t, "image import", mnt, out, errOut, err)
	out, errOut, err = other.try("build")
	wantDiskFull(t, "build", mnt, out, errOut, err)
	out, errOut, err = other.try("up", "-d", "--wait", "web")
	wantDiskFull(t, "up", mnt, out, errOut, err)

	// The talker wrote into the full disk meanwhile; it runs on.
	time.Sleep(500 * time.Millisecond)
	if got := talker.states(); got != "talker running\n" {
		t.Errorf("talker on a full disk: %q", got)
	}
	// Down on a full disk: it removes, so it may work; if it fails, it
	// says the disk is full, and the down after space returned finishes.
	downOut, downErr, downFailed := other.try("down", "-v", "-t", "0")
	if downFailed != nil {
		wantDiskFull(t, "down", mnt, downOut, downErr, downFailed)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	other.hoist("down", "-v", "-t", "0")
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The log rotates fast: read every file of it.
		var o string
		logs, _ := filepath.Glob(filepath.Join(h.runDir, talker.name, "containers", "*", "container.log*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "bytes of output: the log could not be written: ") {
					o = line
				}
			}
		}
		if strings.Contains(o, "no space left on device") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the talker's log never noted its loss once there was room:\n%.2000s", o)
		}
		time.Sleep(200 * time.Millisecond)
	}
	talker.hoist("down", "-t", "0")

	// Nothing half-written is referenced: the store is sound as it is,
	// and everything works again.
	h.checkClean()
	h.mustIn(strings.NewReader(busybox.String()), "", "image", "import", "-", "other:1")
	puller.hoist("pull")
	h.must("", "image", "inspect", ref)
	other.hoist("up", "-d", "--wait")
	if got := other.states(); got != "built running\nweb running\n" {
		t.Errorf("ps after space returned:\n%s", got)
	}
	other.hoist("down", "-v", "-t", "0")
	h.checkClean()
}

// pushRandomImage pushes randomImage to a registry served by this test
// process and returns its reference.
func pushRandomImage(t *testing.T) string {
	t.Helper()
	return pushImage(t, randomImage(t), "full/junk:1")
}

// pushImage pushes img as repoTag to a registry served by this test
// process, for the test's life, and returns its reference.
func pushImage(t *testing.T, img v1.Image, repoTag string) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	ref := strings.TrimPrefix(srv.URL, "http://") + "/" + repoTag
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return ref
}

// archiveImage writes img, tagged ref, to an archive for image load and
// returns its path.
func archiveImage(t *testing.T, img v1.Image, ref string) string {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "image.tar")
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(archive, r, img); err != nil {
		t.Fatal(err)
	}
	return archive
}

// randomImage is busybox plus a layer of 4 MiB of random bytes: no store
// has its top layer.
func randomImage(t *testing.T) v1.Image {
	t.Helper()
	var rootfs bytes.Buffer
	if err := testimage.WriteRootfs(&rootfs); err != nil {
		t.Fatal(err)
	}
	base, err := tarball.LayerFromReader(bytes.NewReader(rootfs.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var top bytes.Buffer
	tw := tar.NewWriter(&top)
	junk := make([]byte, 4<<20)
	rand.Read(junk)
	tw.WriteHeader(&tar.Header{Name: "junk", Mode: 0o644, Size: int64(len(junk)), Typeflag: tar.TypeReg})
	tw.Write(junk)
	tw.Close()
	layer, err := tarball.LayerFromReader(bytes.NewReader(top.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, base, layer)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestDiskFullDocker is the disk-full case where it applies to the docker
// engine: dockerd keeps its own store (a test must not fill the host's
// /var/lib/docker), so what hoist writes itself is the file it exports a
// container to and the files it copies out of one. On a full 8 MiB tmpfs
// each fails with the one-line disk-full error naming the mount, leaves no
// half-written file, and works once there is room again.
func TestDiskFullDocker(t *testing.T) {
	h := newDockerHost(t)
	mnt := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	p := h.project("dfull", fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sh", "-c", "dd if=/dev/urandom of=/big bs=1M count=2 && exec sleep 3600"]
    init: true
`, testImage))
	p.hoist("up", "-d", "--wait")
	// dd is done once /big has all its bytes.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.hoist("exec", "app", "ls", "-l", "/big"), "2097152") {
		if time.Now().After(deadline) {
			t.Fatal("the container never wrote /big")
		}
		time.Sleep(200 * time.Millisecond)
	}
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	exported, copied := filepath.Join(mnt, "app.tar"), filepath.Join(mnt, "big")

	out, errOut, err := p.try("export", "app", "-o", exported)
	wantDiskFull(t, "export", mnt, out, errOut, err)
	out, errOut, err = p.try("cp", "app:/big", copied)
	wantDiskFull(t, "cp", mnt, out, errOut, err)
	// Nothing half-written: the tmpfs holds the filler alone (cp removes
	// the file it could not finish).
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "filler" {
			continue
		}
		t.Errorf("a full disk left %s behind", e.Name())
	}
	if got := p.states(); got != "app running\n" {
		t.Errorf("the container on a full disk: %q", got)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	p.hoist("export", "app", "-o", exported)
	p.hoist("cp", "app:/big", copied)
	if fi, err := os.Stat(copied); err != nil || fi.Size() != 2<<20 {
		t.Errorf("cp after space returned: %v %v", fi, err)
	}
	if fi, err := os.Stat(exported); err != nil || fi.Size() < 2<<20 {
		t.Errorf("export after space returned: %v %v", fi, err)
	}
	p.hoist("down", "-t", "0")
}
