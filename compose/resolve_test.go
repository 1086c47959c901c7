package compose

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/runspec"
)

// resolveOne loads yaml (one service, "s") and resolves it.
func resolveOne(t *testing.T, yaml string, oneOff bool) (runspec.Container, error) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), Options{Files: []string{f}, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return Resolve(p, p.Services["s"], oneOff)
}

func TestResolveRules(t *testing.T) {
	sec := func(n int) *time.Duration { d := time.Duration(n) * time.Second; return &d }
	i64 := func(n int64) *int64 { return &n }
	cases := []struct {
		name, yaml string
		oneOff     bool
		get        func(runspec.Container) any
		want       any
	}{
		// deploy.restart_policy replaces restart:, as docker compose
		// sends it (the native engine kept "always" here).
		{"restart deploy wins", "restart: always\n    deploy: {restart_policy: {condition: none}}",
			false, func(c runspec.Container) any { return c.Restart }, runspec.Restart{Mode: runspec.RestartNo}},
		{"restart deploy on-failure", "restart: always\n    deploy: {restart_policy: {condition: on-failure, max_attempts: 4}}",
			false, func(c runspec.Container) any { return c.Restart }, runspec.Restart{Mode: runspec.RestartOnFailure, MaxAttempts: 4}},
		{"restart deploy any", "deploy: {restart_policy: {condition: any}}",
			false, func(c runspec.Container) any { return c.Restart }, runspec.Restart{Mode: runspec.RestartAlways}},
		{"restart deploy no condition", "restart: always\n    deploy: {restart_policy: {delay: 5s}}",
			false, func(c runspec.Container) any { return c.Restart }, runspec.Restart{Mode: runspec.RestartNo}},
		{"restart on-failure:3", "restart: on-failure:3",
			false, func(c runspec.Container) any { return c.Restart }, runspec.Restart{Mode: runspec.RestartOnFailure, MaxAttempts: 3}},
		{"restart none", "image: x",
			false, func(c runspec.Container) any { return c.Restart }, runspec.Restart{Mode: runspec.RestartNo}},
		{"one-off never restarts", "restart: always\n    deploy: {restart_policy: {condition: any}}",
			true, func(c runspec.Container) any { return c.Restart }, runspec.Restart{Mode: runspec.RestartNo}},
		// cpus as docker compose computes it (the native engine gave
		// 100000001 for 0.1).
		{"cpus 0.1", "cpus: 0.1", false, func(c runspec.Container) any { return c.Resources.NanoCPUs }, int64(100000000)},
		{"cpus 0.7", "cpus: 0.7", false, func(c runspec.Container) any { return c.Resources.NanoCPUs }, int64(700000000)},
		{"cpus 1.5", "cpus: 1.5", false, func(c runspec.Container) any { return c.Resources.NanoCPUs }, int64(1500000000)},
		{"deploy cpus win", "deploy: {resources: {limits: {cpus: '0.5', memory: 64m, pids: 30}}}",
			false, func(c runspec.Container) any {
				return []any{c.Resources.NanoCPUs, c.Resources.MemoryLimit, *c.Resources.PidsLimit}
			}, []any{int64(500000000), int64(64 << 20), int64(30)}},
		{"mem_limit", "mem_limit: 32m\n    pids_limit: 10", false, func(c runspec.Container) any {
			return []any{c.Resources.MemoryLimit, c.Resources.PidsLimit}
		}, []any{int64(32 << 20), i64(10)}},
		// Whole seconds, truncated, as docker compose sends them.
		{"stop grace 1.5s", "stop_grace_period: 1500ms", false, func(c runspec.Container) any { return c.Stop.GracePeriod }, sec(1)},
		{"stop grace unset", "image: x", false, func(c runspec.Container) any { return c.Stop.GracePeriod }, (*time.Duration)(nil)},
		{"env unset and set", "environment: [A=1, B, C=]", false, func(c runspec.Container) any { return c.Process.Env },
			[]runspec.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Unset: true}, {Name: "C"}}},
		{"entrypoint empty", "entrypoint: []", false, func(c runspec.Container) any {
			return []any{c.Process.Entrypoint != nil, len(c.Process.Entrypoint), c.Process.Command == nil}
		}, []any{true, 0, true}},
		{"health inherit", "image: x", false, func(c runspec.Container) any { return c.Health.Mode }, runspec.HealthInherit},
		{"health disable", "healthcheck: {disable: true}", false, func(c runspec.Container) any { return c.Health.Mode }, runspec.HealthDisable},
		{"health none", "healthcheck: {test: [NONE]}", false, func(c runspec.Container) any { return c.Health.Mode }, runspec.HealthDisable},
		{"health set", "healthcheck: {test: \"true\", interval: 2s, retries: 5}", false, func(c runspec.Container) any { return c.Health },
			runspec.Health{Mode: runspec.HealthSet, Test: []string{"CMD-SHELL", "true"}, Interval: 2 * time.Second, Retries: 5}},
		{"tmpfs", "tmpfs: ['/a:size=1m,mode=1700', '/b:exec', '/d:uid=1000,gid=1001']\n    volumes: [{type: tmpfs, target: /c, tmpfs: {size: 2048}}]", false,
			func(c runspec.Container) any { return c.Mounts }, []runspec.Mount{
				{Type: runspec.MountTmpfs, Target: "/c", Tmpfs: &runspec.Tmpfs{SizeBytes: 2048}},
				{Type: runspec.MountTmpfs, Target: "/a", Tmpfs: &runspec.Tmpfs{SizeBytes: 1 << 20, Mode: 0o1700, FromKey: true, Options: "size=1m,mode=1700"}},
				{Type: runspec.MountTmpfs, Target: "/b", Tmpfs: &runspec.Tmpfs{Exec: true, FromKey: true, Options: "exec"}},
				// docker compose passes uid= and gid= to the kernel.
				{Type: runspec.MountTmpfs, Target: "/d", Tmpfs: &runspec.Tmpfs{UID: 1000, GID: 1001, FromKey: true, Options: "uid=1000,gid=1001"}},
			}},
		{"security_opt", "security_opt: ['no-new-privileges:true', 'seccomp=unconfined', 'apparmor=x', 'systempaths=unconfined']", false,
			func(c runspec.Container) any { return c.Security }, runspec.Security{NoNewPrivileges: true, Seccomp: "unconfined", UnmaskPaths: true, Options: []string{"apparmor=x"}}},
		{"network_mode service", "network_mode: service:o\n  o:\n    image: x\n    container_name: other", false,
			func(c runspec.Container) any { return c.Network.Mode }, runspec.NetworkMode("container:other")},
		{"aliases", "hostname: h\n    networks: {back: {aliases: [b1], priority: 1}, front: {}}\nnetworks: {back: {}, front: {}}", false,
			func(c runspec.Container) any { return c.Network.Attachments }, []runspec.Attachment{
				{Network: "t_back", Aliases: []string{"s", "b1", "h"}}, {Network: "t_front", Aliases: []string{"s", "h"}}}},
		{"labels", "labels: {a: b}", false, func(c runspec.Container) any { return c.Labels }, map[string]string{"a": "b"}},
		{"ulimits", "ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}", false, func(c runspec.Container) any { return c.Resources.Ulimits },
			[]runspec.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}, {Name: "nproc", Soft: 5, Hard: 5}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			yaml := "services:\n  s:\n    image: x\n    " + c.yaml + "\n"
			if strings.HasPrefix(c.yaml, "image:") {
				yaml = "services:\n  s:\n    " + c.yaml + "\n"
			}
			got, err := resolveOne(t, yaml, c.oneOff)
			if err != nil {
				t.Fatal(err)
			}
			if g := c.get(got); !reflect.DeepEqual(g, c.want) {
				t.Errorf("got %#v\nwant %#v", g, c.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"deploy: {restart_policy: {condition: any, max_attempts: 3}}", `compose.yaml:4: service "s": deploy.restart_policy.max_attempts applies only to condition on-failure`},
		{"deploy: {restart_policy: {condition: sometimes}}", `deploy.restart_policy.condition "sometimes" is not a condition`},
		{"restart: always:3", `restart "always:3" is not a restart policy`},
		{"healthcheck: {test: \"true\", start_interval: 1s}", `healthcheck start_interval has no start_period`},
		{"tmpfs: ['/a:uid=x']", `tmpfs "/a:uid=x": uid "x" is not a number`},
		{"tmpfs: ['/a:nr_inodes=5']", `tmpfs "/a:nr_inodes=5": option "nr_inodes" is not supported`},
		{"security_opt: [foo]", `security_opt "foo" has no value`},
		// The Engine refuses NanoCPUs with a CFS quota or period; the
		// native engine would have applied cpus alone.
		{"cpus: 0.5\n    cpu_quota: 50000", `compose.yaml:5: service "s": cpus and cpu_quota cannot both be set`},
		{"deploy: {resources: {limits: {cpus: '1'}}}\n    cpu_period: 50000", `cpus and cpu_period cannot both be set`},
		// docker compose refuses to copy content into a read-only
		// container (a file: is bound, which it allows).
		{"read_only: true\n    configs: [c]\nconfigs:\n  c:\n    content: hello", `config "c" cannot be written into a read-only service`},
	} {
		err := loadString(t, "services:\n  s:\n    image: x\n    "+c.yaml+"\n")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestUnmapped(t *testing.T) {
	c, err := resolveOne(t, "services:\n  s:\n    image: x\n    links: [o]\n    annotations: {a: b}\n    mac_address: 02:42:ac:11:00:02\n  o:\n    image: x\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.Attachments[0].MacAddress != "02:42:ac:11:00:02" {
		t.Errorf("mac_address not on the primary network: %+v", c.Network.Attachments)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	os.WriteFile(f, []byte("services:\n  s:\n    image: x\n    links: [o]\n    annotations: {a: b}\n  o:\n    image: x\n"), 0o644)
	p, err := Load(context.Background(), Options{Files: []string{f}, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Unmapped(p.Services["s"]), []string{"links", "annotations"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Unmapped = %v, want %v", got, want)
	}
}

// For a swarm, secrets and configs are swarm objects: external ones and a
// content one on a read-only service are fine, and no file or mount is
// made for them.
func TestResolveSwarmObjects(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	os.WriteFile(f, []byte("services:\n  s:\n    image: x\n    read_only: true\n    secrets: [ext, c]\nsecrets:\n  ext: {external: true}\n  c: {environment: TOKEN}\n"), 0o644)
	if _, err := Load(context.Background(), Options{Files: []string{f}, Name: "t", Environ: []string{"TOKEN=x"}}); err == nil {
		t.Fatal("one host: an external secret and a content one on a read-only service load")
	}
	p, err := Load(context.Background(), Options{Files: []string{f}, Name: "t", Environ: []string{"TOKEN=x"}, Swarm: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ResolveWith(p, p.Services["s"], ResolveOptions{Swarm: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mounts) != 0 || len(c.Files) != 0 || len(c.Deploy.Secrets) != 2 {
		t.Errorf("mounts %v files %v deploy secrets %v", c.Mounts, c.Files, c.Deploy.Secrets)
	}
}
