package swarm

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

// resolveYAML loads a compose file as hoist does and gives each service
// as the orchestrator would hand it to this engine.
func resolveYAML(t *testing.T, yaml string) map[string]Service {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "app.conf"), []byte("a=1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM x\n"), 0o644)
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{f}, Name: "p", Environ: []string{"TOKEN=t0k"}, Swarm: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Service{}
	for name, s := range p.Services {
		c, err := compose.ResolveWith(p, s, compose.ResolveOptions{Swarm: true})
		if err != nil {
			t.Fatal(err)
		}
		svc := Service{Project: p.Name, Name: name, Config: c, ContainerName: s.ContainerName, Volumes: map[string]engine.VolumeSpec{}}
		for key, v := range p.Volumes {
			svc.Volumes[v.Name] = engine.VolumeSpec{Name: v.Name, Key: key, Project: p.Name, Driver: v.Driver, Options: v.DriverOpts, Labels: v.Labels}
		}
		if s.Build != nil {
			svc.Build = &engine.BuildSpec{Context: s.Build.Context}
		}
		out[name] = svc
	}
	return out
}

// fakeObjects names every object <name>_hash with ID id-<key>.
func fakeObjects(kind string, ref runspec.ObjectRef) (string, string, bool) {
	return ref.Name + "_0123456789ab", kind + "-" + ref.Key, true
}

const fullYAML = `services:
  web:
    image: registry.example.com/web:1
    entrypoint: ["/entry"]
    command: ["serve", "--port", "80"]
    environment: {B: "2", A: "1", GONE: null}
    user: "1000:1000"
    working_dir: /srv
    hostname: web-host
    group_add: [audio]
    tty: true
    stdin_open: true
    read_only: true
    init: true
    stop_signal: SIGINT
    stop_grace_period: 3s
    sysctls: {net.core.somaxconn: "1024"}
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    ulimits: {nofile: {soft: 100, hard: 200}}
    labels: {tier: front}
    extra_hosts: ["db.local:10.0.0.9"]
    dns: [10.0.0.53]
    dns_search: [example.com]
    dns_opt: [ndots:2]
    healthcheck: {test: ["CMD", "true"], interval: 2s, timeout: 1s, retries: 4, start_period: 5s, start_interval: 1s}
    logging: {driver: json-file, options: {max-size: 1m}}
    platform: linux/amd64
    networks:
      front: {aliases: [www]}
      back: {}
    ports:
      - {target: 443, published: "8443", mode: host}
      - "8080:80"
      - {target: 53, protocol: udp}
    volumes:
      - data:/data
      - ./site:/site:ro
      - {type: tmpfs, target: /cache, tmpfs: {size: 1048576, mode: 0700}}
    configs: [{source: conf, target: /etc/app.conf}]
    secrets: [{source: token, uid: "33", mode: 0400}]
    deploy:
      replicas: 3
      endpoint_mode: dnsrr
      labels: {team: a}
      resources:
        limits: {cpus: "0.5", memory: 64m, pids: 50}
        reservations: {cpus: "0.25", memory: 32m}
      restart_policy: {condition: on-failure, delay: 2s, max_attempts: 5, window: 30s}
      update_config: {parallelism: 2, delay: 1s, failure_action: rollback, monitor: 4s, order: start-first}
      placement: {constraints: [node.role==worker], preferences: [{spread: node.labels.zone}], max_replicas_per_node: 2}
networks:
  front: {}
  back: {}
volumes:
  data: {driver: local, driver_opts: {type: tmpfs}, labels: {keep: "yes"}}
configs:
  conf: {file: ./app.conf}
secrets:
  token: {environment: TOKEN}
`

func TestToServiceSpecFull(t *testing.T) {
	s := resolveYAML(t, fullYAML)["web"]
	spec, err := toServiceSpec(s, fakeObjects, "1.44")
	if err != nil {
		t.Fatal(err)
	}
	cs := spec.TaskTemplate.ContainerSpec
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v\nwant %#v", name, got, want)
		}
	}
	// Names and labels as docker stack gives them, plus compose's.
	check("Name", spec.Name, "p_web")
	hash := spec.Labels[LabelSpecHash]
	check("service labels", spec.Labels, map[string]string{
		"team": "a", LabelNamespace: "p", LabelImage: "registry.example.com/web:1", LabelMode: "replicated",
		"com.docker.compose.project": "p", "com.docker.compose.service": "web", "dev.hoist.engine": "hoist", LabelSpecHash: hash,
	})
	if len(hash) != 64 {
		t.Errorf("spec hash %q", hash)
	}
	check("container labels", cs.Labels, map[string]string{
		"tier": "front", LabelNamespace: "p", "com.docker.compose.project": "p", "com.docker.compose.service": "web",
		LabelTaskHash: cs.Labels[LabelTaskHash],
	})
	check("Image", cs.Image, "registry.example.com/web:1")
	check("Command", cs.Command, []string{"/entry"})
	check("Args", cs.Args, []string{"serve", "--port", "80"})
	check("Env", cs.Env, []string{"A=1", "B=2", "GONE"})
	check("User", cs.User, "1000:1000")
	check("Dir", cs.Dir, "/srv")
	check("Hostname", cs.Hostname, "web-host")
	check("Groups", cs.Groups, []string{"audio"})
	check("TTY/stdin/ro", []bool{cs.TTY, cs.OpenStdin, cs.ReadOnly, *cs.Init}, []bool{true, true, true, true})
	check("StopSignal", cs.StopSignal, "SIGINT")
	check("StopGracePeriod", *cs.StopGracePeriod, 3*time.Second)
	check("Sysctls", cs.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
	check("caps", [][]string{cs.CapabilityAdd, cs.CapabilityDrop}, [][]string{{"NET_ADMIN"}, {"MKNOD"}})
	check("Ulimits", cs.Ulimits, []*container.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}})
	check("Hosts", cs.Hosts, []string{"10.0.0.9 db.local"})
	check("DNSConfig", cs.DNSConfig, &swarm.DNSConfig{Nameservers: []string{"10.0.0.53"}, Search: []string{"example.com"}, Options: []string{"ndots:2"}})
	check("Healthcheck", cs.Healthcheck, &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: 2 * time.Second, Timeout: time.Second,
		Retries: 4, StartPeriod: 5 * time.Second, StartInterval: time.Second})
	check("Mounts", cs.Mounts, []mount.Mount{
		{Type: mount.TypeVolume, Source: "p_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{
			Labels: map[string]string{"keep": "yes", LabelNamespace: "p"}, DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "tmpfs"}}}},
		{Type: mount.TypeBind, Source: s.Config.Mounts[1].Source, Target: "/site", ReadOnly: true},
		{Type: mount.TypeTmpfs, Target: "/cache", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o700}},
	})
	check("Configs", cs.Configs, []*swarm.ConfigReference{{ConfigName: "p_conf_0123456789ab", ConfigID: "config-conf",
		File: &swarm.ConfigReferenceFileTarget{Name: "/etc/app.conf", UID: "0", GID: "0", Mode: 0o444}}})
	check("Secrets", cs.Secrets, []*swarm.SecretReference{{SecretName: "p_token_0123456789ab", SecretID: "secret-token",
		File: &swarm.SecretReferenceFileTarget{Name: "/run/secrets/token", UID: "33", GID: "0", Mode: 0o400}}})

	tt := spec.TaskTemplate
	check("Resources", tt.Resources, &swarm.ResourceRequirements{
		Limits:       &swarm.Limit{NanoCPUs: 500000000, MemoryBytes: 64 << 20, Pids: 50},
		Reservations: &swarm.Resources{NanoCPUs: 250000000, MemoryBytes: 32 << 20},
	})
	d2, d30, five := 2*time.Second, 30*time.Second, uint64(5)
	check("RestartPolicy", tt.RestartPolicy, &swarm.RestartPolicy{Condition: "on-failure", Delay: &d2, MaxAttempts: &five, Window: &d30})
	check("Placement", tt.Placement, &swarm.Placement{Constraints: []string{"node.role==worker"},
		Preferences: []swarm.PlacementPreference{{Spread: &swarm.SpreadOver{SpreadDescriptor: "node.labels.zone"}}},
		MaxReplicas: 2, Platforms: []swarm.Platform{{OS: "linux", Architecture: "amd64"}}})
	// The aliases are the shared translation's: the service's name, its
	// aliases, its hostname.
	check("Networks", tt.Networks, []swarm.NetworkAttachmentConfig{{Target: "p_back", Aliases: []string{"web", "web-host"}}, {Target: "p_front", Aliases: []string{"web", "www", "web-host"}}})
	check("LogDriver", tt.LogDriver, &swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "1m"}})
	three := uint64(3)
	check("Mode", spec.Mode, swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &three}})
	check("UpdateConfig", spec.UpdateConfig, &swarm.UpdateConfig{Parallelism: 2, Delay: time.Second, FailureAction: "rollback", Monitor: 4 * time.Second, Order: "start-first"})
	check("EndpointSpec", spec.EndpointSpec, &swarm.EndpointSpec{Mode: "dnsrr", Ports: []swarm.PortConfig{
		{Protocol: "udp", TargetPort: 53, PublishMode: "ingress"},
		{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"},
		{Protocol: "tcp", TargetPort: 443, PublishedPort: 8443, PublishMode: "host"},
	}})

	// An older daemon gets no field it would drop.
	old, err := toServiceSpec(s, fakeObjects, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	check("StartInterval at 1.41", old.TaskTemplate.ContainerSpec.Healthcheck.StartInterval, time.Duration(0))
}

// The spec hash changes with what a service runs, not with how it was
// computed; replicas change the service's hash but not its tasks'.
func TestSpecHash(t *testing.T) {
	base := `services:
  a:
    image: x:1
    environment: {A: "1", B: "2"}
    deploy: {replicas: %s}
`
	spec := func(yaml string) swarm.ServiceSpec {
		t.Helper()
		sp, err := toServiceSpec(resolveYAML(t, yaml)["a"], fakeObjects, "1.41")
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	one := spec(strings.Replace(base, "%s", "1", 1))
	again := spec(strings.Replace(base, "%s", "1", 1))
	reordered := spec(strings.Replace(strings.Replace(base, `{A: "1", B: "2"}`, `{B: "2", A: "1"}`, 1), "%s", "1", 1))
	two := spec(strings.Replace(base, "%s", "2", 1))
	env := spec(strings.Replace(strings.Replace(base, `A: "1"`, `A: "9"`, 1), "%s", "1", 1))
	h := func(s swarm.ServiceSpec) (string, string) {
		return s.Labels[LabelSpecHash], s.TaskTemplate.ContainerSpec.Labels[LabelTaskHash]
	}
	s1, t1 := h(one)
	if s, tk := h(again); s != s1 || tk != t1 {
		t.Error("the same file hashed differently")
	}
	if s, _ := h(reordered); s != s1 {
		t.Error("the order of environment keys changed the hash")
	}
	if s, tk := h(two); s == s1 || tk != t1 {
		t.Errorf("replicas: service hash changed %v (want true), task hash changed %v (want false)", s != s1, tk != t1)
	}
	if s, tk := h(env); s == s1 || tk == t1 {
		t.Error("an environment change did not change both hashes")
	}
}

func TestJobModes(t *testing.T) {
	svcs := resolveYAML(t, `services:
  once:
    image: x
    deploy: {mode: replicated-job, replicas: 2}
  everywhere:
    image: x
    deploy: {mode: global-job, restart_policy: {condition: none}}
`)
	two := uint64(2)
	for _, c := range []struct {
		svc, api string
		mode     swarm.ServiceMode
		restart  *swarm.RestartPolicy
	}{
		{"once", "1.44", swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &two, TotalCompletions: &two}}, nil},
		// Before 1.43 a job runs as a service that restarts only failures.
		{"once", "1.41", swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}, &swarm.RestartPolicy{Condition: "on-failure"}},
		{"everywhere", "1.44", swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}, &swarm.RestartPolicy{Condition: "none"}},
		{"everywhere", "1.41", swarm.ServiceMode{Global: &swarm.GlobalService{}}, &swarm.RestartPolicy{Condition: "none"}},
	} {
		spec, err := toServiceSpec(svcs[c.svc], fakeObjects, c.api)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(spec.Mode, c.mode) || !reflect.DeepEqual(spec.TaskTemplate.RestartPolicy, c.restart) {
			t.Errorf("%s at %s: mode %+v restart %+v, want %+v %+v", c.svc, c.api, spec.Mode, spec.TaskTemplate.RestartPolicy, c.mode, c.restart)
		}
		emulated := c.api == "1.41"
		if got := spec.UpdateConfig != nil && spec.UpdateConfig.FailureAction == "continue"; got != emulated {
			t.Errorf("%s at %s: update config %+v", c.svc, c.api, spec.UpdateConfig)
		}
	}
}

func TestPublishedRangeIsRefused(t *testing.T) {
	s := resolveYAML(t, "services:\n  a:\n    image: x\n    ports: [\"8000-8001:80\"]\n")["a"]
	if _, err := toServiceSpec(s, fakeObjects, "1.41"); err == nil || !strings.Contains(err.Error(), "one number") {
		t.Errorf("a published range: %v", err)
	}
}

func TestUnsupported(t *testing.T) {
	svcs := resolveYAML(t, `services:
  bad:
    image: x
    container_name: fixed
    privileged: true
    network_mode: host
    pid: host
    ipc: host
    devices: ["/dev/fuse"]
    shm_size: 64m
    cgroup_parent: custom
    cpu_shares: 512
    domainname: example.com
    entrypoint: []
    security_opt: [no-new-privileges, apparmor=unconfined]
    healthcheck: {test: ["CMD", "true"], start_period: 5s, start_interval: 1s}
    ports: [{target: 80, published: "80", host_ip: 127.0.0.1}]
    volumes_from: [other]
    deploy: {mode: replicated-job}
  other:
    image: x
  built:
    build: .
  shared:
    image: registry.example.com/shared:1
    build: .
    volumes: [data:/data, ./local:/local]
    deploy: {replicas: 2}
volumes:
  data: {}
`)
	got := func(name, api string) []string {
		var out []string
		for _, p := range Unsupported(svcs[name], api) {
			out = append(out, p.String())
		}
		return out
	}
	bad := got("bad", "1.41")
	for _, want := range []string{
		`error: service "bad": container_name: Swarm names a service's tasks itself; remove container_name`,
		`error: service "bad": privileged: Swarm services cannot be privileged`,
		`error: service "bad": network_mode: network_mode "host" has no Swarm equivalent`,
		`error: service "bad": pid: pid "host" cannot be expressed in Swarm`,
		`error: service "bad": ipc: ipc "host" cannot be expressed in Swarm`,
		`error: service "bad": devices: Swarm services cannot be given host devices`,
		`error: service "bad": volumes_from: Swarm tasks cannot share another container's volumes`,
		`error: service "bad": entrypoint: an empty entrypoint`,
		`warning: service "bad": shm_size: Swarm leaves it to the node's defaults; ignored`,
		`warning: service "bad": cgroup_parent: Swarm leaves it to the node's defaults`,
		`warning: service "bad": cpu_shares: Swarm leaves it to the node's defaults`,
		`warning: service "bad": domainname: Swarm sets no domain name`,
		`warning: service "bad": security_opt: no-new-privileges needs Engine API 1.44; the manager speaks 1.41 and would drop it`,
		`warning: service "bad": security_opt: "apparmor=unconfined" is not applied by Swarm`,
		`warning: service "bad": healthcheck.start_interval: healthcheck start_interval needs Engine API 1.44`,
		`warning: service "bad": ports: port 80: Swarm publishes on every address of a node, not on 127.0.0.1`,
		`warning: service "bad": deploy.mode: replicated-job runs as a replicated service`,
	} {
		if !containsPrefix(bad, want) {
			t.Errorf("missing: %s", want)
		}
	}
	// A newer manager takes what 1.41 would drop.
	for _, p := range got("bad", "1.46") {
		if strings.Contains(p, "needs Engine API") || strings.Contains(p, "deploy.mode") {
			t.Errorf("at 1.46: %s", p)
		}
	}
	if p := got("other", "1.41"); len(p) != 0 {
		t.Errorf("a plain service: %v", p)
	}
	if b := got("built", "1.41"); !containsPrefix(b, `error: service "built": image: the service has build: and no image: naming a registry ("p-built" would go to Docker Hub's official images)`) {
		t.Errorf("build without a pushable image: %v", b)
	}
	sh := got("shared", "1.41")
	for _, want := range []string{
		`warning: service "shared": volumes: volume /data: each node has its own volume "p_data"`,
		`warning: service "shared": volumes: bind mount /local: each node binds its own`,
	} {
		if !containsPrefix(sh, want) {
			t.Errorf("missing: %s (got %v)", want, sh)
		}
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func TestPin(t *testing.T) {
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for ref, want := range map[string]string{
		"192.168.250.1:5000/web:1": "192.168.250.1:5000/web:1@" + dg,
		"registry.example.com/web": "registry.example.com/web:latest@" + dg,
		"me/app:2":                 "me/app:2@" + dg,
	} {
		got, err := pin(ref, dg)
		if err != nil || got != want {
			t.Errorf("pin(%s) = %q, %v; want %q", ref, got, err, want)
		}
	}
	for ref, pushable := range map[string]bool{"p-web": false, "redis:7": false, "me/app": true, "localhost:5000/a": true} {
		if got := unpushable(ref) == ""; got != pushable {
			t.Errorf("unpushable(%s) = %q", ref, unpushable(ref))
		}
	}
}

func TestObjectName(t *testing.T) {
	h := strings.Repeat("ab", 32)
	if got := objectName("p_conf", h); got != "p_conf_abababababab" {
		t.Errorf("objectName = %q", got)
	}
	long := objectName(strings.Repeat("x", 80), h)
	if len(long) != 64 || !strings.HasSuffix(long, "_abababababab") {
		t.Errorf("a long name: %q (%d)", long, len(long))
	}
	a, _ := objectFor("p", "config", runspec.ObjectRef{Key: "k", Name: "p_k", Content: []byte("one")})
	b, _ := objectFor("p", "config", runspec.ObjectRef{Key: "k", Name: "p_k", Content: []byte("two")})
	c, _ := objectFor("p", "config", runspec.ObjectRef{Key: "k", Name: "p_k", Content: []byte("one"), Target: "/elsewhere"})
	if a.name == b.name || a.name != c.name {
		t.Errorf("names %s %s %s: content decides, the target does not", a.name, b.name, c.name)
	}
}

func TestNetworkCreate(t *testing.T) {
	opts, err := networkCreate(engine.NetworkSpec{Name: "p_back", Project: "p", Key: "back", Internal: true, Subnets: []string{"10.9.0.0/24"}, Labels: map[string]string{"x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Driver != "overlay" || !opts.Attachable || opts.Scope != "swarm" || !opts.Internal || opts.IPAM.Config[0].Subnet != "10.9.0.0/24" {
		t.Errorf("options %+v", opts)
	}
	if want := map[string]string{"x": "y", LabelNamespace: "p", "com.docker.compose.project": "p", "com.docker.compose.network": "back", "dev.hoist.engine": "hoist"}; !reflect.DeepEqual(opts.Labels, want) {
		t.Errorf("labels %v, want %v", opts.Labels, want)
	}
	if _, err := networkCreate(engine.NetworkSpec{Name: "p_local", Key: "local", Driver: "bridge"}); err == nil || !strings.Contains(err.Error(), `driver "bridge" is local to one node`) {
		t.Errorf("a bridge network: %v", err)
	}
}
