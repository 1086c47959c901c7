package compose

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/runspec"
)

func TestResolveDeploy(t *testing.T) {
	dur := func(d time.Duration) *time.Duration { return &d }
	u64 := func(n uint64) *uint64 { return &n }
	cases := []struct {
		name, yaml string
		get        func(runspec.Deploy) any
		want       any
	}{
		{"defaults", "image: x", func(d runspec.Deploy) any {
			return []any{d.Mode, d.Replicas, d.Restart, d.Update, d.Rollback, d.EndpointMode}
		},
			[]any{runspec.ModeReplicated, 1, (*runspec.DeployRestart)(nil), (*runspec.UpdatePolicy)(nil), (*runspec.UpdatePolicy)(nil), ""}},
		{"replicas", "deploy: {replicas: 3}", func(d runspec.Deploy) any { return d.Replicas }, 3},
		{"scale", "scale: 2", func(d runspec.Deploy) any { return d.Replicas }, 2},
		{"global", "deploy: {mode: global}", func(d runspec.Deploy) any { return d.Mode }, runspec.ModeGlobal},
		{"job", "deploy: {mode: replicated-job, replicas: 2}", func(d runspec.Deploy) any { return []any{d.Mode, d.Mode.Job(), d.Replicas} },
			[]any{runspec.ModeReplicatedJob, true, 2}},
		{"labels", "deploy: {labels: {a: b}}\n    labels: {c: d}", func(d runspec.Deploy) any { return d.Labels }, map[string]string{"a": "b"}},
		// restart: as docker stack reads it, except an explicit "no".
		{"restart always", "restart: always", func(d runspec.Deploy) any { return d.Restart },
			&runspec.DeployRestart{Condition: runspec.RestartConditionAny}},
		{"restart unless-stopped", "restart: unless-stopped", func(d runspec.Deploy) any { return d.Restart },
			&runspec.DeployRestart{Condition: runspec.RestartConditionAny}},
		{"restart no", "restart: \"no\"", func(d runspec.Deploy) any { return d.Restart },
			&runspec.DeployRestart{Condition: runspec.RestartConditionNone}},
		{"restart on-failure:3", "restart: on-failure:3", func(d runspec.Deploy) any { return d.Restart },
			&runspec.DeployRestart{Condition: runspec.RestartConditionOnFailure, MaxAttempts: u64(3)}},
		{"restart_policy wins", "restart: always\n    deploy: {restart_policy: {condition: on-failure, delay: 2s, window: 1m, max_attempts: 4}}",
			func(d runspec.Deploy) any { return d.Restart },
			&runspec.DeployRestart{Condition: runspec.RestartConditionOnFailure, Delay: dur(2 * time.Second), Window: dur(time.Minute), MaxAttempts: u64(4)}},
		{"restart_policy no condition", "deploy: {restart_policy: {delay: 1s}}", func(d runspec.Deploy) any { return d.Restart },
			&runspec.DeployRestart{Condition: runspec.RestartConditionAny, Delay: dur(time.Second)}},
		// Limits are the container's (deploy's over the service keys).
		{"limits", "deploy: {resources: {limits: {cpus: '0.5', memory: 32m, pids: 20}, reservations: {cpus: '0.25', memory: 16m}}}",
			func(d runspec.Deploy) any { return []any{d.Resources.Limits, d.Resources.Reservations} },
			[]any{runspec.ResourceAmounts{NanoCPUs: 500000000, MemoryBytes: 32 << 20, Pids: 20}, runspec.ResourceAmounts{NanoCPUs: 250000000, MemoryBytes: 16 << 20}}},
		{"service-level limits", "mem_limit: 32m\n    cpus: 1.5\n    pids_limit: 7\n    mem_reservation: 8m",
			func(d runspec.Deploy) any { return []any{d.Resources.Limits, d.Resources.Reservations} },
			[]any{runspec.ResourceAmounts{NanoCPUs: 1500000000, MemoryBytes: 32 << 20, Pids: 7}, runspec.ResourceAmounts{MemoryBytes: 8 << 20}}},
		{"generic", "deploy: {resources: {reservations: {generic_resources: [{discrete_resource_spec: {kind: SSD, value: 2}}, {discrete_resource_spec: {kind: GPU, value: 1}}]}}}",
			func(d runspec.Deploy) any { return d.Resources.Generic }, []runspec.GenericResource{{Kind: "GPU", Value: 1}, {Kind: "SSD", Value: 2}}},
		{"update_config", "deploy: {update_config: {delay: 3s, failure_action: rollback, monitor: 10s, max_failure_ratio: 0.5, order: start-first}}",
			func(d runspec.Deploy) any { return d.Update },
			&runspec.UpdatePolicy{Parallelism: 1, Delay: 3 * time.Second, FailureAction: "rollback", Monitor: 10 * time.Second, MaxFailureRatio: 0.5, Order: "start-first"}},
		{"rollback_config", "deploy: {rollback_config: {parallelism: 0, failure_action: pause}}",
			func(d runspec.Deploy) any { return d.Rollback }, &runspec.UpdatePolicy{FailureAction: "pause"}},
		{"placement", "deploy: {placement: {constraints: [node.role==worker], preferences: [{spread: node.labels.zone}], max_replicas_per_node: 1}}",
			func(d runspec.Deploy) any { return d.Placement },
			runspec.Placement{Constraints: []string{"node.role==worker"}, Preferences: []string{"node.labels.zone"}, MaxReplicasPerNode: 1}},
		{"endpoint_mode", "deploy: {endpoint_mode: dnsrr}", func(d runspec.Deploy) any { return d.EndpointMode }, "dnsrr"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			yaml := "services:\n  s:\n    image: x\n    " + c.yaml + "\n"
			if strings.HasPrefix(c.yaml, "image:") {
				yaml = "services:\n  s:\n    " + c.yaml + "\n"
			}
			got, err := resolveOne(t, yaml, false)
			if err != nil {
				t.Fatal(err)
			}
			if g := c.get(got.Deploy); !reflect.DeepEqual(g, c.want) {
				t.Errorf("got %#v\nwant %#v", g, c.want)
			}
		})
	}
}

// The objects a service uses, with the targets its mounts and files get.
func TestResolveDeployObjects(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "k.txt"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `services:
  s:
    image: x
    secrets: [k, {source: tok, target: token, uid: "5", gid: "6", mode: 0400}]
    configs: [{source: conf, target: /etc/app.conf}, plain]
secrets:
  k: {file: ./k.txt, labels: {l: v}}
  tok: {environment: HOIST_TEST_TOKEN}
configs:
  conf: {content: "a=1"}
  plain: {content: "p", name: global-plain}
`
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(t.Context(), Options{Files: []string{f}, Name: "t", Environ: []string{"HOIST_TEST_TOKEN=tok"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Resolve(p, p.Services["s"], false)
	if err != nil {
		t.Fatal(err)
	}
	wantSecrets := []runspec.ObjectRef{
		{Key: "k", Name: "t_k", File: filepath.Join(dir, "k.txt"), Labels: map[string]string{"l": "v"}, Target: "/run/secrets/k", Mode: 0o444},
		{Key: "tok", Name: "t_tok", Content: []byte("tok"), Target: "/run/secrets/token", UID: "5", GID: "6", Mode: 0o400},
	}
	wantConfigs := []runspec.ObjectRef{
		{Key: "conf", Name: "t_conf", Content: []byte("a=1"), Target: "/etc/app.conf", Mode: 0o444},
		{Key: "plain", Name: "global-plain", Content: []byte("p"), Target: "/plain", Mode: 0o444},
	}
	if !reflect.DeepEqual(c.Deploy.Secrets, wantSecrets) {
		t.Errorf("secrets:\n got %+v\nwant %+v", c.Deploy.Secrets, wantSecrets)
	}
	if !reflect.DeepEqual(c.Deploy.Configs, wantConfigs) {
		t.Errorf("configs:\n got %+v\nwant %+v", c.Deploy.Configs, wantConfigs)
	}
}

func TestResolveDeployPortMode(t *testing.T) {
	c, err := resolveOne(t, "services:\n  s:\n    image: x\n    ports: [{target: 80, published: \"8080\", mode: host}, \"9090:90\"]\n", false)
	if err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, p := range c.Network.Ports {
		modes = append(modes, p.Mode)
	}
	if want := []string{"host", "ingress"}; !reflect.DeepEqual(modes, want) {
		t.Errorf("port modes %q, want %q", modes, want)
	}
}

func TestResolveDeployErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"deploy: {mode: sometimes}", `compose.yaml:4: service "s": deploy.mode "sometimes" is not a mode; use replicated, global, replicated-job or global-job`},
		{"deploy: {endpoint_mode: ipvs}", `deploy.endpoint_mode "ipvs" is not a mode`},
		{"deploy: {update_config: {failure_action: explode}}", `deploy.update_config.failure_action "explode" is not an action`},
		{"deploy: {rollback_config: {failure_action: rollback}}", `deploy.rollback_config.failure_action cannot be rollback`},
	} {
		err := loadString(t, "services:\n  s:\n    image: x\n    "+c.yaml+"\n")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.yaml, err, c.want)
		}
	}
}
