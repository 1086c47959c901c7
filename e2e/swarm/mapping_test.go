package swarm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dswarm "github.com/docker/docker/api/types/swarm"
)

// What a compose service maps to, as the swarm holds it and as its task's
// container runs on its node: the service spec on the manager, the
// container's configuration on the node, and what the process sees
// (printed to its log). An external network that is not swarm-scoped is
// refused.
func TestMapping(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-mapping", map[string]string{"compose.yaml": fmt.Sprintf(`services:
  m:
    image: %[1]s
    command: ["sh", "-c", "echo uid=$$(id -u) nofile=$$(ulimit -n) somaxconn=$$(cat /proc/sys/net/core/somaxconn) pwd=$$(pwd) color=$$COLOR; if touch /written 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi; exec sleep 1000"]
    user: "1000:1000"
    working_dir: /tmp
    environment: {COLOR: teal}
    init: true
    read_only: true
    sysctls: {net.core.somaxconn: "1024"}
    cap_add: [NET_ADMIN]
    cap_drop: [CHOWN]
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    stop_signal: SIGUSR1
    stop_grace_period: 7s
    labels: {mapped.container: "yes"}
    logging: {driver: json-file, options: {max-size: 1m}}
    healthcheck: {test: ["CMD", "true"], interval: 1s, timeout: 1s, retries: 3}
    networks: {back: {aliases: [m-alias]}}
    deploy:
      endpoint_mode: dnsrr
      labels: {mapped.service: "yes"}
      resources: {limits: {cpus: "0.5", memory: 64M}, reservations: {memory: 16M}}
      restart_policy: {condition: on-failure, delay: 1s, max_attempts: 2}
      update_config: {parallelism: 2, delay: 1s, order: start-first, failure_action: rollback, monitor: 2s}
      rollback_config: {parallelism: 1, order: stop-first}
      placement: {constraints: [node.role==worker], preferences: [{spread: node.id}], max_replicas_per_node: 1}
  g:
    image: %[1]s
    command: ["sleep", "1000"]
    init: true
    deploy: {mode: global, endpoint_mode: dnsrr}
networks:
  back: {}
`, busybox),
		"external.yaml": fmt.Sprintf(`services:
  x:
    image: %s
    networks: [host-bridge]
    deploy: {endpoint_mode: dnsrr}
networks:
  host-bridge: {external: true, name: bridge}
`, busybox)})
	pr.must("up")
	ctx := context.Background()
	m := dockerClient(t, b.Manager)

	// The service, on the manager.
	svc, _, err := m.ServiceInspectWithRaw(ctx, "hoist-e2e-mapping_m", dswarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sp := svc.Spec
	check := func(what string, ok bool, got any) {
		t.Helper()
		if !ok {
			t.Errorf("%s: got %+v", what, got)
		}
	}
	check("service labels", sp.Labels["mapped.service"] == "yes" && sp.Labels["com.docker.stack.namespace"] == pr.name &&
		sp.Labels["com.docker.compose.project"] == pr.name && sp.Labels["com.docker.compose.service"] == "m" && sp.Labels["mapped.container"] == "", sp.Labels)
	u := sp.UpdateConfig
	check("update_config", u != nil && u.Parallelism == 2 && u.Delay == time.Second && u.Order == "start-first" && u.FailureAction == "rollback" && u.Monitor == 2*time.Second, u)
	rb := sp.RollbackConfig
	check("rollback_config", rb != nil && rb.Parallelism == 1 && rb.Order == "stop-first", rb)
	tt := sp.TaskTemplate
	pl := tt.Placement
	check("placement", pl != nil && slices.Equal(pl.Constraints, []string{"node.role==worker"}) && len(pl.Preferences) == 1 &&
		pl.Preferences[0].Spread != nil && pl.Preferences[0].Spread.SpreadDescriptor == "node.id" && pl.MaxReplicas == 1, pl)
	rs := tt.Resources
	check("resources", rs != nil && rs.Limits != nil && rs.Limits.NanoCPUs == 5e8 && rs.Limits.MemoryBytes == 64<<20 &&
		rs.Reservations != nil && rs.Reservations.MemoryBytes == 16<<20, rs)
	rp := tt.RestartPolicy
	check("restart_policy", rp != nil && rp.Condition == "on-failure" && rp.Delay != nil && *rp.Delay == time.Second && rp.MaxAttempts != nil && *rp.MaxAttempts == 2, rp)
	check("endpoint_mode", sp.EndpointSpec != nil && sp.EndpointSpec.Mode == dswarm.ResolutionModeDNSRR, sp.EndpointSpec)
	net, err := m.NetworkInspect(ctx, "hoist-e2e-mapping_back", network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("network", net.Driver == "overlay" && net.Scope == "swarm" && net.Attachable && net.Labels["com.docker.stack.namespace"] == pr.name, net)
	check("aliases", len(tt.Networks) == 1 && tt.Networks[0].Target == net.ID && slices.Contains(tt.Networks[0].Aliases, "m-alias") &&
		slices.Contains(tt.Networks[0].Aliases, "m"), tt.Networks)

	// The container, on the worker that runs the task.
	tasks := pr.ps("m")
	if len(tasks) != 1 || tasks[0].State != "running" {
		t.Fatalf("tasks of m: %+v", tasks)
	}
	mgr, err := m.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tasks[0].Node == mgr.Name {
		t.Errorf("m runs on the manager %s, against node.role==worker", mgr.Name)
	}
	var node string
	for _, n := range b.Nodes {
		if info, err := dockerClient(t, n).Info(ctx); err == nil && info.Name == tasks[0].Node {
			node = n
		}
	}
	if node == "" {
		t.Fatalf("no node %s", tasks[0].Node)
	}
	cs, err := dockerClient(t, node).ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.name=hoist-e2e-mapping_m"))})
	if err != nil || len(cs) != 1 {
		t.Fatalf("containers of m on %s: %v %v", tasks[0].Node, cs, err)
	}
	c, err := dockerClient(t, node).ContainerInspect(ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	cf, hc := c.Config, c.HostConfig
	check("user", cf.User == "1000:1000", cf.User)
	check("working_dir", cf.WorkingDir == "/tmp", cf.WorkingDir)
	check("environment", slices.Contains(cf.Env, "COLOR=teal"), cf.Env)
	check("container labels", cf.Labels["mapped.container"] == "yes" && cf.Labels["com.docker.stack.namespace"] == pr.name && cf.Labels["mapped.service"] == "", cf.Labels)
	check("stop_signal", cf.StopSignal == "SIGUSR1", cf.StopSignal)
	// Swarm applies the grace period itself when it stops a task; the
	// container carries none.
	check("stop_grace_period", tt.ContainerSpec.StopGracePeriod != nil && *tt.ContainerSpec.StopGracePeriod == 7*time.Second, tt.ContainerSpec.StopGracePeriod)
	check("healthcheck", cf.Healthcheck != nil && slices.Equal(cf.Healthcheck.Test, []string{"CMD", "true"}) && cf.Healthcheck.Interval == time.Second, cf.Healthcheck)
	check("read_only", hc.ReadonlyRootfs, hc.ReadonlyRootfs)
	check("init", hc.Init != nil && *hc.Init, hc.Init)
	check("sysctls", hc.Sysctls["net.core.somaxconn"] == "1024", hc.Sysctls)
	check("cap_add", slices.Contains(hc.CapAdd, "CAP_NET_ADMIN") || slices.Contains(hc.CapAdd, "NET_ADMIN"), hc.CapAdd)
	check("cap_drop", slices.Contains(hc.CapDrop, "CAP_CHOWN") || slices.Contains(hc.CapDrop, "CHOWN"), hc.CapDrop)
	check("ulimits", len(hc.Ulimits) == 1 && hc.Ulimits[0].Name == "nofile" && hc.Ulimits[0].Soft == 1024 && hc.Ulimits[0].Hard == 2048, hc.Ulimits)
	check("logging", hc.LogConfig.Type == "json-file" && hc.LogConfig.Config["max-size"] == "1m", hc.LogConfig)
	check("memory limit", hc.Memory == 64<<20, hc.Memory)
	check("cpus", hc.NanoCPUs == 5e8, hc.NanoCPUs)

	// What the process sees.
	eventually(t, 20*time.Second, func() error {
		l := pr.must("logs", "m").stdout
		for _, want := range []string{"uid=1000 nofile=1024 somaxconn=1024 pwd=/tmp color=teal", "rootfs=ro"} {
			if !strings.Contains(l, want) {
				return fmt.Errorf("m's log %q lacks %q", l, want)
			}
		}
		return nil
	})

	// A global service runs one task on each node.
	onNodes := map[string]bool{}
	for _, tk := range pr.ps("g") {
		if tk.State == "running" && tk.Slot == 0 {
			onNodes[tk.Node] = true
		}
	}
	if len(onNodes) != len(b.Nodes) {
		t.Errorf("global service g runs on %v, want each of the %d nodes", onNodes, len(b.Nodes))
	}

	// A local (bridge) network cannot carry services.
	r := pr.hoist("-f", "external.yaml", "up")
	if r.err == nil || !strings.Contains(r.stderr, `external network "bridge" has scope "local"`) {
		t.Errorf("up with the external bridge network: %v\n%s", r.err, r.stderr)
	}
}
