package enginetest

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// testCopier is hoist cp's ability: stat, a tar of a file, a directory or
// a symlink out of a container, a tar into one, running or stopped; and
// a symlink in the container never leads a copy onto the host.
func testCopier(t *testing.T, h *harness) {
	cp, ok := h.b.(engine.Copier)
	if !ok {
		t.Fatal("backend is not an engine.Copier")
	}
	host := newHostDir(t)
	svc := h.service("files", "sh", "-c", "mkdir -p /data/sub && echo hi > /data/sub/f && ln -s sub/f /data/link && ln -s "+host.dir+" /data/esc && touch /ready; exec sleep 600")
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	h.mustExec(id, "while ! test -e /ready; do sleep 0.05; done")
	ctx := h.ctx()

	st, err := cp.StatPath(ctx, id, "/data/sub/f")
	if err != nil || st.Name != "f" || st.Size != 3 || !st.Mode.IsRegular() {
		t.Errorf("StatPath of a file: %+v, %v", st, err)
	}
	st, err = cp.StatPath(ctx, id, "/data/link")
	if err != nil || st.Mode&os.ModeSymlink == 0 || !strings.HasSuffix(st.LinkTarget, "sub/f") {
		t.Errorf("StatPath of a symlink: %+v, %v; want a symlink to sub/f", st, err)
	}
	if st, err := cp.StatPath(ctx, id, "/data/sub"); err != nil || !st.Mode.IsDir() {
		t.Errorf("StatPath of a directory: %+v, %v", st, err)
	}
	if _, err := cp.StatPath(ctx, id, "/data/missing"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("StatPath of a missing path = %v, want ErrNotFound", err)
	}

	from := func(p string) map[string]string {
		t.Helper()
		rc, _, err := cp.CopyFrom(ctx, id, p)
		if err != nil {
			t.Fatalf("CopyFrom %s: %v", p, err)
		}
		defer rc.Close()
		return readTar(t, rc)
	}
	if got := from("/data/sub"); len(got) != 2 || got["sub/"] != "dir" || got["sub/f"] != "hi\n" {
		t.Errorf("CopyFrom a directory: %v, want sub/ and sub/f", got)
	}
	if got := from("/data/link"); len(got) != 1 || got["link"] != "-> sub/f" {
		t.Errorf("CopyFrom a symlink: %v, want the link itself", got)
	}

	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, e := range []struct {
		name, body string
		dir        bool
	}{{"new.txt", "x", false}, {"d/", "", true}, {"d/g", "gg", false}} {
		hdr := &tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.dir {
			hdr.Mode, hdr.Typeflag = 0o755, tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	content := in.Bytes()
	if err := cp.CopyTo(ctx, id, "/data", bytes.NewReader(content), engine.CopyToOptions{}); err != nil {
		t.Fatalf("CopyTo: %v", err)
	}
	if got := h.mustExec(id, "cat /data/new.txt /data/d/g; stat -c %a /data/new.txt"); got != "xgg600\n" {
		t.Errorf("copied in: %q, want the files' content and mode 600", got)
	}
	// The container's symlink to a host directory, as the destination
	// or inside the archive's way, leads nowhere outside its root.
	_ = cp.CopyTo(ctx, id, "/data/esc", bytes.NewReader(content), engine.CopyToOptions{})
	host.check(t, "CopyTo a symlink to the host")
	var esc bytes.Buffer
	tw = tar.NewWriter(&esc)
	if err := tw.WriteHeader(&tar.Header{Name: "esc/x", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	_ = cp.CopyTo(ctx, id, "/data", &esc, engine.CopyToOptions{})
	host.check(t, "CopyTo through a symlink to the host")

	// Stopped, its files are still there to copy.
	if err := h.b.StopContainer(ctx, id, 0); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if got := from("/data/sub/f"); got["f"] != "hi\n" {
		t.Errorf("CopyFrom a stopped container: %v", got)
	}
	if err := cp.CopyTo(ctx, id, "/data", bytes.NewReader(content), engine.CopyToOptions{}); err != nil {
		t.Errorf("CopyTo a stopped container: %v", err)
	}
}

// readTar maps a tar stream's names to their content: a file's text,
// "dir", or "-> target" for a symlink.
func readTar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			out[strings.TrimSuffix(hdr.Name, "/")+"/"] = "dir"
		case tar.TypeSymlink:
			out[hdr.Name] = "-> " + hdr.Linkname
		default:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[hdr.Name] = string(b)
		}
	}
}
