package orchestrate

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/runspec"
)

// pidIgnoring is an engine that ignores pid, as the native engines do.
type pidIgnoring struct{ *fakeBackend }

func (pidIgnoring) Unsupported(c runspec.Container) []string {
	if c.Namespaces.PID != "" {
		return []string{"pid (every container gets a pid namespace of its own)"}
	}
	return nil
}

const pidHost = `services:
  plain:
    image: busybox
  box:
    image: busybox
    pid: host
`

// An ignored key is named with its service and the file and line that set
// it, at up and at run; with --strict up refuses before it makes anything.
func TestUnsupportedLocated(t *testing.T) {
	p := load(t, pidHost)
	f := newFake()
	f.images["busybox"] = "sha256:1"
	var warnings []string
	o := &Orchestrator{Backend: pidIgnoring{f}, Parallel: 1, Report: func(e Event) {
		if e.Status == StatusWarning {
			warnings = append(warnings, e.Message)
		}
	}}
	want := `the fake engine ignores "pid (every container gets a pid namespace of its own)" (services: box at ` + p.ComposeFiles[0] + `:6)`

	_, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe, Strict: true})
	if err == nil || !strings.Contains(err.Error(), "--strict: "+want) {
		t.Errorf("up --strict: err %v, want it to name %q", err, want)
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "create") {
			t.Errorf("up --strict made something: %v", f.calls)
			break
		}
	}
	if len(warnings) != 0 {
		t.Errorf("up --strict warned instead of failing: %q", warnings)
	}

	if _, err := o.Up(context.Background(), p, UpOptions{Probe: freeProbe}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("up warned %q, want %q alone", warnings, want)
	}

	warnings = nil
	if _, err := o.Run(context.Background(), p, "box", RunOptions{Rm: true, NoDeps: true, Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0] != want {
		t.Errorf("run warned %q, want %q alone", warnings, want)
	}
	warnings = nil
	if _, err := o.Run(context.Background(), p, "plain", RunOptions{Rm: true, NoDeps: true, Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("run of a service that sets no ignored key warned %q", warnings)
	}
}

func TestFieldPath(t *testing.T) {
	for field, want := range map[string]string{
		"pid": "pid",
		"mem_limit (cgroup v1 gives rootless users no cgroups)": "mem_limit",
		"cpu_quota/cpu_period":                  "cpu_quota",
		"deploy.resources.reservations.devices": "deploy resources reservations devices",
		"dns: the host's resolv.conf":           "dns",
		"networks ipv6_address":                 "networks",
	} {
		if got := strings.Join(fieldPath(field), " "); got != want {
			t.Errorf("fieldPath(%q) = %q, want %q", field, got, want)
		}
	}
}
