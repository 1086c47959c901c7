package docker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

func dur(d time.Duration) *types.Duration { v := types.Duration(d); return &v }
func ptr[T any](v T) *T                   { return &v }

// fullService sets most fields the conversion handles.
func fullService() types.ServiceConfig {
	s := types.ServiceConfig{Name: "web"}
	s.Image = "nginx:1"
	s.Command = types.ShellCommand{"nginx", "-g", "daemon off;"}
	s.Entrypoint = types.ShellCommand{"/docker-entrypoint.sh"}
	s.Environment = types.MappingWithEquals{"B": ptr("2"), "A": ptr("1"), "UNSET": nil}
	s.WorkingDir = "/srv"
	s.User = "1000:1000"
	s.Hostname = "web"
	s.DomainName = "example.test"
	s.Labels = types.Labels{"svc.label": "s", engine.LabelService: "overridden"}
	s.HealthCheck = &types.HealthCheckConfig{
		Test: types.HealthCheckTest{"CMD", "curl", "-f", "http://localhost"}, Interval: dur(2 * time.Second),
		Timeout: dur(time.Second), Retries: ptr(uint64(5)), StartPeriod: dur(10 * time.Second), StartInterval: dur(500 * time.Millisecond),
	}
	s.Restart = "on-failure:3"
	s.Ports = []types.ServicePortConfig{
		{Target: 80, Published: "8080", Protocol: "tcp", HostIP: "127.0.0.1"},
		{Target: 80, Published: "8443"}, // protocol defaults to tcp
		{Target: 53, Published: "5353", Protocol: "udp"},
		{Target: 9000, Published: "9000-9010"},
		{Target: 7000}, // random host port
	}
	s.Expose = types.StringOrNumberList{"3000", "4000-4001", "5000/udp"}
	s.Volumes = []types.ServiceVolumeConfig{
		{Type: "bind", Source: "/host/src", Target: "/src", ReadOnly: true, Bind: &types.ServiceVolumeBind{CreateHostPath: false, Propagation: "rshared"}},
		{Type: "bind", Source: "/host/created", Target: "/created", Bind: &types.ServiceVolumeBind{CreateHostPath: true}},
		{Type: "volume", Source: "data", Target: "/data", Volume: &types.ServiceVolumeVolume{NoCopy: true}},
		{Type: "volume", Target: "/anon"},
		{Type: "tmpfs", Target: "/cache", Tmpfs: &types.ServiceVolumeTmpfs{Size: 1 << 20, Mode: 0o1777}},
	}
	s.Tmpfs = types.StringList{"/run", "/tmp:size=64m,mode=1777"}
	s.CapAdd = []string{"NET_ADMIN"}
	s.CapDrop = []string{"MKNOD"}
	s.Privileged = true
	s.Init = ptr(true)
	s.Ulimits = map[string]*types.UlimitsConfig{"nofile": {Soft: 1024, Hard: 2048}, "nproc": {Single: 65535}}
	s.Sysctls = types.Mapping{"net.core.somaxconn": "1024"}
	s.ShmSize = 64 << 20
	s.MemLimit = 256 << 20
	s.CPUS = 0.1
	s.PidsLimit = 100
	s.ExtraHosts = types.HostsList{"db": {"10.0.0.2"}, "host.docker.internal": {"host-gateway"}}
	s.DNS = types.StringList{"1.1.1.1"}
	s.DNSSearch = types.StringList{"example.test"}
	s.SecurityOpt = []string{"no-new-privileges:true"}
	s.ReadOnly = true
	s.StopSignal = "SIGINT"
	s.StopGracePeriod = dur(20 * time.Second)
	s.Tty = true
	s.StdinOpen = true
	s.Logging = &types.LoggingConfig{Driver: "json-file", Options: types.Options{"max-size": "10m"}}
	s.Devices = []types.DeviceMapping{{Source: "/dev/fuse"}, {Source: "/dev/sda", Target: "/dev/xvda", Permissions: "r"}}
	s.GroupAdd = []string{"audio"}
	s.Ipc = "shareable"
	s.Pid = "host"
	s.Platform = "linux/arm64/v8"
	s.Networks = map[string]*types.ServiceNetworkConfig{
		"front": {Aliases: []string{"www"}, Ipv4Address: "172.30.0.10", Priority: 1},
		"back":  nil,
	}
	return s
}

// specOf resolves s as the orchestrator does, in project p (networks front
// and back, volume data), with compose's labels over the service's.
func specOf(s types.ServiceConfig) engine.ContainerSpec {
	p := &types.Project{
		Name: "p", Services: types.Services{s.Name: s},
		Networks: types.Networks{"front": {Name: "p_front"}, "back": {Name: "p_back"}},
		Volumes:  types.Volumes{"data": {Name: "p_data"}},
	}
	c, err := compose.Resolve(p, s, false)
	if err != nil {
		panic(err)
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[engine.LabelProject], c.Labels[engine.LabelService] = "p", s.Name
	return engine.ContainerSpec{Project: "p", Service: s.Name, Name: "p-" + s.Name + "-1", Number: 1, Config: c}
}

func fullSpec() engine.ContainerSpec { return specOf(fullService()) }

func TestToCreateConfigFull(t *testing.T) {
	cc, err := toCreateConfig(fullSpec(), "1.41")
	if err != nil {
		t.Fatal(err)
	}
	cfg, hc := cc.Config, cc.Host
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v\nwant %#v", name, got, want)
		}
	}
	check("Image", cfg.Image, "nginx:1")
	check("Cmd", cfg.Cmd, strslice.StrSlice{"nginx", "-g", "daemon off;"})
	check("Entrypoint", cfg.Entrypoint, strslice.StrSlice{"/docker-entrypoint.sh"})
	// An unset variable goes as a bare name, which the daemon takes as
	// "remove", as docker compose sends it.
	check("Env", cfg.Env, []string{"A=1", "B=2", "UNSET"})
	check("WorkingDir", cfg.WorkingDir, "/srv")
	check("User", cfg.User, "1000:1000")
	check("Hostname", cfg.Hostname, "web")
	check("Domainname", cfg.Domainname, "example.test")
	check("Labels", cfg.Labels, map[string]string{"svc.label": "s", engine.LabelService: "web", engine.LabelProject: "p"})
	// API 1.41 has no start interval: it is dropped, not sent.
	check("Healthcheck", cfg.Healthcheck, &container.HealthConfig{
		Test: []string{"CMD", "curl", "-f", "http://localhost"}, Interval: 2 * time.Second, Timeout: time.Second,
		Retries: 5, StartPeriod: 10 * time.Second,
	})
	check("StopSignal", cfg.StopSignal, "SIGINT")
	check("StopTimeout", cfg.StopTimeout, ptr(20))
	check("Tty/OpenStdin", [2]bool{cfg.Tty, cfg.OpenStdin}, [2]bool{true, true})
	check("ExposedPorts", cfg.ExposedPorts, nat.PortSet{
		"80/tcp": {}, "53/udp": {}, "9000/tcp": {}, "7000/tcp": {}, "3000/tcp": {}, "4000/tcp": {}, "4001/tcp": {}, "5000/udp": {},
	})
	check("PortBindings", hc.PortBindings, nat.PortMap{
		"80/tcp":   {{HostIP: "127.0.0.1", HostPort: "8080"}, {HostPort: "8443"}},
		"53/udp":   {{HostPort: "5353"}},
		"9000/tcp": {{HostPort: "9000-9010"}},
		"7000/tcp": {{}},
	})
	check("RestartPolicy", hc.RestartPolicy, container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3})
	check("Mounts", hc.Mounts, []mount.Mount{
		{Type: mount.TypeBind, Source: "/host/src", Target: "/src", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: "rshared"}},
		{Type: mount.TypeVolume, Source: "p_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeVolume, Target: "/anon"},
		{Type: mount.TypeTmpfs, Target: "/cache", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}},
	})
	// API 1.41 cannot create a missing host path through the Mounts API.
	check("Binds", hc.Binds, []string{"/host/created:/created"})
	check("Tmpfs", hc.Tmpfs, map[string]string{"/run": "", "/tmp": "size=64m,mode=1777"})
	check("CapAdd", hc.CapAdd, strslice.StrSlice{"NET_ADMIN"})
	check("CapDrop", hc.CapDrop, strslice.StrSlice{"MKNOD"})
	check("Privileged/ReadonlyRootfs", [2]bool{hc.Privileged, hc.ReadonlyRootfs}, [2]bool{true, true})
	check("Init", hc.Init, ptr(true))
	check("Ulimits", hc.Ulimits, []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 65535, Hard: 65535}})
	check("Sysctls", hc.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
	check("ShmSize", hc.ShmSize, int64(64<<20))
	check("Memory", hc.Memory, int64(256<<20))
	check("NanoCPUs", hc.NanoCPUs, int64(100000000))
	check("PidsLimit", hc.PidsLimit, ptr(int64(100)))
	check("ExtraHosts", hc.ExtraHosts, []string{"db:10.0.0.2", "host.docker.internal:host-gateway"})
	check("DNS", hc.DNS, []string{"1.1.1.1"})
	check("DNSSearch", hc.DNSSearch, []string{"example.test"})
	check("SecurityOpt", hc.SecurityOpt, []string{"no-new-privileges:true"})
	check("LogConfig", hc.LogConfig, container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m"}})
	check("Devices", hc.Devices, []container.DeviceMapping{
		{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
		{PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "r"},
	})
	check("GroupAdd", hc.GroupAdd, []string{"audio"})
	check("IpcMode", hc.IpcMode, container.IpcMode("shareable"))
	check("PidMode", hc.PidMode, container.PidMode("host"))
	check("Platform", [3]string{cc.Platform.OS, cc.Platform.Architecture, cc.Platform.Variant}, [3]string{"linux", "arm64", "v8"})
	check("NetworkMode", hc.NetworkMode, container.NetworkMode("p_front"))
	check("EndpointsConfig", cc.Networking.EndpointsConfig, map[string]*network.EndpointSettings{
		"p_front": {Aliases: []string{"web", "www"}, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "172.30.0.10"}},
	})
	check("Connect", cc.Connect, []runspec.Attachment{{Network: "p_back", Aliases: []string{"web"}}})
}

func TestToCreateConfigVersions(t *testing.T) {
	cc, err := toCreateConfig(fullSpec(), "1.44")
	if err != nil {
		t.Fatal(err)
	}
	if cc.Config.Healthcheck.StartInterval != 500*time.Millisecond {
		t.Errorf("API 1.44 StartInterval = %v, want 500ms", cc.Config.Healthcheck.StartInterval)
	}
	if len(cc.Host.Binds) != 0 {
		t.Errorf("API 1.44 Binds = %v, want none", cc.Host.Binds)
	}
	want := mount.Mount{Type: mount.TypeBind, Source: "/host/created", Target: "/created", BindOptions: &mount.BindOptions{CreateMountpoint: true}}
	if !reflect.DeepEqual(cc.Host.Mounts[1], want) {
		t.Errorf("API 1.44 create_host_path mount = %+v, want %+v", cc.Host.Mounts[1], want)
	}
}

func TestToCreateConfigOverrides(t *testing.T) {
	svc := fullService()
	svc.Command = types.ShellCommand{"sh"}
	svc.Entrypoint = types.ShellCommand{}
	svc.HealthCheck = &types.HealthCheckConfig{Disable: true}
	svc.NetworkMode = "container:p-db-1"
	svc.Networks = nil
	svc.Restart = ""
	svc.OomKillDisable = true
	svc.MemSwappiness = 10
	svc.BlkioConfig = &types.BlkioConfig{Weight: 300}
	svc.MemLimit, svc.CPUS, svc.PidsLimit = 0, 0, 0
	svc.Deploy = &types.DeployConfig{
		RestartPolicy: &types.RestartPolicy{Condition: "on-failure", MaxAttempts: ptr(uint64(2))},
		Resources: types.Resources{
			Limits:       &types.Resource{NanoCPUs: 1.5, MemoryBytes: 512 << 20, Pids: 50},
			Reservations: &types.Resource{MemoryBytes: 128 << 20},
		},
	}
	cc, err := toCreateConfig(specOf(svc), "1.41")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cc.Config.Cmd, strslice.StrSlice{"sh"}) {
		t.Errorf("Cmd = %v, want the service's command", cc.Config.Cmd)
	}
	if cc.Config.Entrypoint == nil || len(cc.Config.Entrypoint) != 0 {
		t.Errorf("Entrypoint = %#v, want empty non-nil (clears the image's)", cc.Config.Entrypoint)
	}
	if !reflect.DeepEqual(cc.Config.Healthcheck, &container.HealthConfig{Test: []string{"NONE"}}) {
		t.Errorf("Healthcheck = %+v, want NONE", cc.Config.Healthcheck)
	}
	if cc.Host.NetworkMode != "container:p-db-1" || cc.Networking != nil || len(cc.Connect) != 0 {
		t.Errorf("network mode %q networking %+v connect %v, want container mode only", cc.Host.NetworkMode, cc.Networking, cc.Connect)
	}
	if cc.Host.RestartPolicy != (container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 2}) {
		t.Errorf("RestartPolicy = %+v", cc.Host.RestartPolicy)
	}
	r := cc.Host.Resources
	if r.NanoCPUs != 1500000000 || r.Memory != 512<<20 || *r.PidsLimit != 50 || r.MemoryReservation != 128<<20 {
		t.Errorf("resources = cpus %d mem %d pids %d reservation %d", r.NanoCPUs, r.Memory, *r.PidsLimit, r.MemoryReservation)
	}
	if r.OomKillDisable == nil || !*r.OomKillDisable || r.MemorySwappiness == nil || *r.MemorySwappiness != 10 || r.BlkioWeight != 300 {
		t.Errorf("resources oom_kill_disable %v swappiness %v blkio weight %d", r.OomKillDisable, r.MemorySwappiness, r.BlkioWeight)
	}
}

func TestToCreateConfigErrors(t *testing.T) {
	for name, mutate := range map[string]func(*engine.ContainerSpec){
		"bad platform": func(s *engine.ContainerSpec) { s.Config.Platform = "linux" },
		"npipe mount": func(s *engine.ContainerSpec) {
			s.Config.Mounts = []runspec.Mount{{Type: "npipe", Source: "x", Target: "/x"}}
		},
		"bad expose": func(s *engine.ContainerSpec) { s.Config.Network.Expose = []string{"abc"} },
	} {
		spec := fullSpec()
		mutate(&spec)
		if _, err := toCreateConfig(spec, "1.41"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCreateContainerConnectsRemainingNetworks(t *testing.T) {
	f := &fakeAPI{version: "1.41"}
	b := &Backend{api: f}
	id, err := b.CreateContainer(context.Background(), fullSpec())
	if err != nil {
		t.Fatal(err)
	}
	if id != "id-p-web-1" || !reflect.DeepEqual(f.created, []string{"p-web-1"}) {
		t.Errorf("id %q created %v", id, f.created)
	}
	if !reflect.DeepEqual(f.connected, []string{"p_back/id-p-web-1"}) {
		t.Errorf("connected %v, want p_back only", f.connected)
	}
}

func TestCreateContainerConnectFailureRemoves(t *testing.T) {
	f := &fakeAPI{version: "1.41", connectErr: fmt.Errorf("network p_back not found: %w", cerrdefs.ErrNotFound)}
	b := &Backend{api: f}
	_, err := b.CreateContainer(context.Background(), fullSpec())
	if !errors.Is(err, engine.ErrNotFound) || !strings.Contains(err.Error(), `create container "p-web-1": connect network "p_back"`) {
		t.Errorf("err = %v", err)
	}
	if !reflect.DeepEqual(f.removed, []string{"id-p-web-1"}) {
		t.Errorf("removed %v, want the half-made container", f.removed)
	}
}

func TestErrorMapping(t *testing.T) {
	conflict := fmt.Errorf(`Conflict. The container name "/p-web-1" is already in use: %w`, cerrdefs.ErrConflict)
	b := &Backend{api: &fakeAPI{version: "1.41", createErr: conflict}}
	_, err := b.CreateContainer(context.Background(), fullSpec())
	if !errors.Is(err, engine.ErrConflict) || errors.Is(err, engine.ErrNotFound) {
		t.Errorf("create conflict: %v not ErrConflict", err)
	}
	if want := `create container "p-web-1": ` + conflict.Error(); err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	b = &Backend{api: &fakeAPI{removeErr: fmt.Errorf("No such container: x: %w", cerrdefs.ErrNotFound)}}
	err = b.RemoveContainer(context.Background(), "x", engine.RemoveOptions{})
	if !errors.Is(err, engine.ErrNotFound) || !strings.HasPrefix(err.Error(), `remove container "x": `) {
		t.Errorf("remove: %v", err)
	}

	if err := b.CreateNetwork(context.Background(), engine.NetworkSpec{Name: "x"}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("network create: %v not ErrConflict", err)
	}
	if err := b.CreateVolume(context.Background(), engine.VolumeSpec{Name: "v"}); !errors.Is(err, engine.ErrConflict) {
		t.Errorf("volume create of existing: %v not ErrConflict", err)
	}
	plain := errors.New("boom")
	if got := mapErr(plain); got != plain {
		t.Errorf("mapErr changed an unclassified error: %v", got)
	}
}

func TestToCreateConfigRefusesKeepID(t *testing.T) {
	spec := fullSpec()
	spec.Config.Namespaces.UserNS = "keep-id"
	_, err := toCreateConfig(spec, "1.41")
	if err == nil || !strings.Contains(err.Error(), "services."+spec.Service+".userns_mode: keep-id") {
		t.Errorf("keep-id on the Docker Engine: %v", err)
	}
}
