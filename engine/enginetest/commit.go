package enginetest

import (
	"archive/tar"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

// containerChanges has a running container change its file system: a
// new file, a file of its image deleted, a file in a tmpfs (not part of
// its layer), and returns it.
func (h *harness) containerChanges(name string) string {
	svc := h.service(name, "sh", "-c", "echo made-in-container > /made-here; rm /etc/group; echo scratch > /scratch/file; touch /ready; exec sleep 600")
	svc.Tmpfs = []string{"/scratch"}
	svc.Init = new(true)
	id := h.run(h.spec(svc))
	h.wait(id, engine.WaitRunning)
	h.mustExec(id, "while ! test -e /ready; do sleep 0.05; done")
	return id
}

// testExporter is hoist export: the tar holds the image's files and the
// container's own, not what it deleted nor its tmpfs, and works on a
// stopped container too.
func testExporter(t *testing.T, h *harness) {
	ex := h.b.(engine.Exporter)
	id := h.containerChanges("exported")
	for _, state := range []string{"running", "stopped"} {
		if state == "stopped" {
			if err := h.b.StopContainer(h.ctx(), id, 0); err != nil {
				t.Fatalf("StopContainer: %v", err)
			}
		}
		rc, err := ex.Export(h.ctx(), id)
		if err != nil {
			t.Fatalf("Export (%s): %v", state, err)
		}
		files := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Export (%s): read tar: %v", state, err)
			}
			name := strings.TrimPrefix(strings.TrimPrefix(hdr.Name, "./"), "/")
			b, _ := io.ReadAll(tr)
			files[strings.TrimSuffix(name, "/")] = string(b)
		}
		if err := rc.Close(); err != nil {
			t.Errorf("Export (%s): Close: %v", state, err)
		}
		if c := h.find(id); state == "running" && c.State != engine.StateRunning {
			t.Errorf("the container is %s once its export is closed, want running", c.State)
		}
		if files["made-here"] != "made-in-container\n" {
			t.Errorf("export (%s): made-here = %q, want the container's file", state, files["made-here"])
		}
		if _, ok := files["bin/sh"]; !ok {
			t.Errorf("export (%s): no bin/sh from the image", state)
		}
		if _, ok := files["etc/group"]; ok {
			t.Errorf("export (%s): etc/group, which the container deleted, is in it", state)
		}
		if _, ok := files["etc/passwd"]; !ok {
			t.Errorf("export (%s): no etc/passwd from the image", state)
		}
		if _, ok := files["scratch/file"]; ok {
			t.Errorf("export (%s): the tmpfs's file is in it", state)
		}
	}
}

// testCommitter is hoist commit: the new image holds the container's
// file (and not what it deleted), its changes apply (ENV, CMD), and the
// container keeps running unpaused after.
func testCommitter(t *testing.T, h *harness) {
	cm := h.b.(engine.Committer)
	id := h.containerChanges("committed")
	ref := h.imageRef("commit")
	imageID, err := cm.Commit(h.ctx(), id, engine.CommitOptions{
		Ref: ref, Message: "from a test", Author: "hoist enginetest", Pause: true,
		Changes: []string{"ENV COMMITTED=yes", `CMD ["sh", "-c", "cat /made-here; echo $COMMITTED; test -e /etc/group || echo no-group"]`},
	})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if !strings.HasPrefix(imageID, "sha256:") {
		t.Errorf("Commit returned %q, want an image ID", imageID)
	}
	if c := h.find(id); c.State != engine.StateRunning {
		t.Errorf("the container is %s after Commit, want running", c.State)
	}
	h.mustExec(id, "true")
	if out := h.runImage("fromcommit", ref); out != "made-in-container\nyes\nno-group\n" {
		t.Errorf("a container of the committed image printed %q, want the file, the env and no /etc/group", out)
	}
}
