package enginetest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

func testNetwork(t *testing.T, h *harness) {
	ctx := h.ctx()
	spec := engine.NetworkSpec{
		Name:    h.project + "_default",
		Project: h.project,
		Key:     "default",
		Labels:  map[string]string{engine.LabelProject: h.project, engine.LabelNetwork: "default", "test.label": "x"},
	}
	if err := h.b.CreateNetwork(ctx, spec); err != nil {
		t.Fatalf("CreateNetwork: %v", err)
	}
	st, err := h.b.Observe(ctx, h.project, nil)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if len(st.Networks) != 1 || st.Networks[0].Name != spec.Name {
		t.Fatalf("Observe networks = %+v, want one named %s", st.Networks, spec.Name)
	}
	if got := st.Networks[0].Labels["test.label"]; got != "x" {
		t.Errorf("network label test.label = %q, want x", got)
	}
	if got := st.Networks[0].Labels[engine.LabelNetwork]; got != "default" {
		t.Errorf("network label %s = %q, want default", engine.LabelNetwork, got)
	}
	if err := h.b.CreateNetwork(ctx, spec); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("second CreateNetwork = %v, want ErrConflict", err)
	}
	if err := h.b.RemoveNetwork(ctx, spec.Name); err != nil {
		t.Fatalf("RemoveNetwork: %v", err)
	}
	if err := h.b.RemoveNetwork(ctx, spec.Name); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("second RemoveNetwork = %v, want ErrNotFound", err)
	}
	st, err = h.b.Observe(ctx, h.project, nil)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if len(st.Networks) != 0 {
		t.Errorf("networks after remove = %+v, want none", st.Networks)
	}
}

func testVolume(t *testing.T, h *harness) {
	ctx := h.ctx()
	spec := engine.VolumeSpec{
		Name:    h.project + "_data",
		Project: h.project,
		Key:     "data",
		Labels:  map[string]string{engine.LabelProject: h.project, engine.LabelVolume: "data", "test.label": "y"},
	}
	if err := h.b.CreateVolume(ctx, spec); err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	st, err := h.b.Observe(ctx, h.project, nil)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if len(st.Volumes) != 1 || st.Volumes[0].Name != spec.Name {
		t.Fatalf("Observe volumes = %+v, want one named %s", st.Volumes, spec.Name)
	}
	if got := st.Volumes[0].Labels["test.label"]; got != "y" {
		t.Errorf("volume label test.label = %q, want y", got)
	}
	if err := h.b.CreateVolume(ctx, spec); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("second CreateVolume = %v, want ErrConflict", err)
	}
	if err := h.b.RemoveVolume(ctx, spec.Name); err != nil {
		t.Fatalf("RemoveVolume: %v", err)
	}
	if err := h.b.RemoveVolume(ctx, spec.Name); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("second RemoveVolume = %v, want ErrNotFound", err)
	}
}

// testTwoNetworks attaches a container to two networks, one with a fixed
// subnet and address, which exercises engines that can attach only one
// network at creation.
func testTwoNetworks(t *testing.T, h *harness) {
	ctx := h.ctx()
	var b [1]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	subnet := fmt.Sprintf("10.213.%d.0/24", b[0])
	ip := fmt.Sprintf("10.213.%d.42", b[0])
	front := engine.NetworkSpec{Name: h.project + "_front", Project: h.project, Key: "front"}
	back := engine.NetworkSpec{Name: h.project + "_back", Project: h.project, Key: "back", Internal: true, Subnets: []string{subnet}}
	for _, n := range []engine.NetworkSpec{front, back} {
		if err := h.b.CreateNetwork(ctx, n); err != nil {
			t.Fatalf("CreateNetwork: %v", err)
		}
	}
	svc := h.service("app", "sh", "-c", "ip -4 addr; exec sleep 600")
	svc.Init = new(true)
	id := h.run(h.spec(svc,
		runspec.Attachment{Network: front.Name, Aliases: []string{"app"}},
		runspec.Attachment{Network: back.Name, Aliases: []string{"app"}, IPv4: ip}))
	c := h.wait(id, engine.WaitRunning)
	if want := []string{back.Name, front.Name}; !slices.Equal(c.Networks, want) {
		t.Errorf("networks %v, want %v", c.Networks, want)
	}
	if ex, ok := h.b.(engine.Execer); ok {
		var out bytes.Buffer
		code, err := ex.Exec(ctx, id, engine.ExecSpec{Cmd: []string{"ip", "-4", "addr"}, Stdout: &out})
		if err != nil || code != 0 {
			t.Fatalf("exec ip addr: %d, %v", code, err)
		}
		if !strings.Contains(out.String(), "inet "+ip+"/24") {
			t.Errorf("static address %s not assigned:\n%s", ip, out.String())
		}
	}
}
