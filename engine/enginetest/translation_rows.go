package enginetest

import (
	"github.com/hoist-dev/hoist/engine/enginetest/effective"
	"slices"
	"strconv"
	"strings"
	"time"
)

// translationRows is the table: one compose service per row, alone or
// with the keys it interacts with, and the settings docker compose v5
// gives it (checked against docker compose itself where the Engine shows
// them, see Options.DockerCompose). Services run the plain image (root,
// CMD sleep 600) unless full, the image with ENTRYPOINT ["sleep"],
// CMD ["600"], USER nobody, WORKDIR, ENV, LABEL, VOLUME /data, STOPSIGNAL
// and a HEALTHCHECK (imageDockerfiles).
func translationRows(e rowEnv) []row {
	return []row{
		// command and entrypoint, with the image's ENTRYPOINT and CMD
		{name: "plain-defaults"},
		{name: "full-defaults", full: true},
		{name: "command-list", yaml: `command: [sleep, "601"]`, want: args("sleep", "601")},
		{name: "command-string", yaml: `command: sleep 602`, want: args("sleep", "602")},
		{name: "command-after-image-entrypoint", full: true, yaml: `command: ["603"]`, want: args("sleep", "603")},
		{name: "entrypoint-drops-image-cmd", full: true, yaml: `entrypoint: [sleep, "604"]`, want: args("sleep", "604")},
		{name: "entrypoint-and-command", full: true, yaml: "entrypoint: [sleep]\ncommand: [\"605\"]", want: args("sleep", "605")},
		// An empty command is the image's (the Engine tests its length).
		{name: "command-empty-keeps-image-cmd", full: true, yaml: `command: []`},
		{name: "entrypoint-empty-with-command", full: true, yaml: "entrypoint: []\ncommand: [sleep, \"606\"]", want: args("sleep", "606")},
		{name: "entrypoint-string", yaml: `entrypoint: sleep 607`, want: args("sleep", "607")},
		// No entrypoint (none in the image either): the image's CMD runs.
		{name: "entrypoint-empty", yaml: `entrypoint: []`},

		// environment, with the image's ENV
		{name: "env-map", yaml: "environment:\n  A: \"1\"\n  B: two words", want: env("A=1", "B=two words")},
		{name: "env-list", yaml: `environment: [C=3, D=]`, want: env("C=3", "D=")},
		{name: "env-over-image", full: true, yaml: `environment: {IMG_OVER: service}`, want: env("IMG_OVER=service")},
		// A variable listed without a value and unset where compose
		// looks is removed, the image's value included.
		{name: "env-unset-removes-image-value", full: true, yaml: `environment: [IMG_OVER, NOT_SET_ANYWHERE]`, want: unsetEnv("IMG_OVER")},
		{name: "env-from-compose-environment", yaml: `environment: [FROM_HOST]`, want: env("FROM_HOST=host")},
		{name: "env-file-under-environment", yaml: "env_file: vars.env\nenvironment: {FILE_OVER: inline}", want: env("FILE_ONLY=file", "FILE_OVER=inline")},
		{name: "env-path-over-image", full: true, yaml: `environment: {PATH: "/custom:/bin"}`, want: env("PATH=/custom:/bin")},

		// user, with the image's USER
		{name: "user-numeric", yaml: `user: "1000:1000"`, want: func(s *effective.Settings) {
			s.User, s.UID, s.GID, s.Groups, s.Home = "1000:1000", 1000, 1000, []int{1000}, "/"
		}},
		{name: "user-name", yaml: `user: nobody`, want: nobody},
		{name: "user-name-and-group", yaml: `user: "nobody:root"`, want: func(s *effective.Settings) {
			nobody(s)
			s.User, s.GID, s.Groups = "nobody:root", 0, []int{0}
		}},
		{name: "user-over-image", full: true, yaml: `user: root`, want: func(s *effective.Settings) {
			s.User, s.UID, s.GID, s.Groups, s.Home = "root", 0, 0, []int{0}, "/root"
		}},
		{name: "group-add", yaml: "user: nobody\ngroup_add: [root, \"1234\"]", want: func(s *effective.Settings) {
			nobody(s)
			s.Groups = []int{0, 1234, 65534}
		}},

		// working_dir and hostname
		{name: "working-dir", yaml: `working_dir: /tmp/wd`, want: func(s *effective.Settings) { s.Cwd = "/tmp/wd" }},
		{name: "working-dir-over-image", full: true, yaml: `working_dir: /tmp`, want: func(s *effective.Settings) { s.Cwd = "/tmp" }},
		// The working directory is created when the image lacks it.
		{name: "working-dir-created-for-user", full: true, yaml: `working_dir: /srv/new`, want: func(s *effective.Settings) { s.Cwd = "/srv/new" }},
		{name: "hostname", yaml: `hostname: conf-host`, want: func(s *effective.Settings) { s.Hostname = "conf-host" }},

		// restart, with deploy.restart_policy (which wins when present)
		{name: "restart-always", yaml: `restart: always`, want: restart("always")},
		{name: "restart-on-failure-count", yaml: `restart: "on-failure:3"`, want: restart("on-failure:3")},
		{name: "restart-unless-stopped", yaml: `restart: unless-stopped`, want: restart("unless-stopped")},
		{name: "restart-no", yaml: `restart: "no"`},
		{name: "restart-always-deploy-none", yaml: "restart: always\ndeploy: {restart_policy: {condition: none}}"},
		{name: "deploy-on-failure-max-attempts", yaml: `deploy: {restart_policy: {condition: on-failure, max_attempts: 2}}`, want: restart("on-failure:2")},
		{name: "restart-no-deploy-any", yaml: "restart: \"no\"\ndeploy: {restart_policy: {condition: any}}", want: restart("always")},
		// A policy without a condition: docker compose sends an empty
		// name, which the Engine takes as no restart.
		{name: "restart-always-deploy-no-condition", yaml: "restart: always\ndeploy: {restart_policy: {delay: 5s}}"},
		{name: "deploy-any-max-attempts", yaml: `deploy: {restart_policy: {condition: any, max_attempts: 2}}`, err: "max_attempts"},

		// resources
		{name: "cpus-tenth", yaml: `cpus: 0.1`, want: cpus(100000000, 10000)},
		{name: "cpus-seven-tenths", yaml: `cpus: 0.7`, want: cpus(700000000, 70000)},
		{name: "cpus-one-and-a-half", yaml: `cpus: 1.5`, want: cpus(1500000000, 150000)},
		{name: "deploy-cpus", yaml: `deploy: {resources: {limits: {cpus: "0.25"}}}`, want: cpus(250000000, 25000)},
		{name: "cpus-and-deploy-cpus", yaml: "cpus: 0.5\ndeploy: {resources: {limits: {cpus: \"0.5\"}}}", want: cpus(500000000, 50000)},
		// The Engine refuses NanoCPUs with a CFS quota or period.
		{name: "cpus-and-cpu-quota", yaml: "cpus: 0.5\ncpu_quota: 50000", err: "cpu_quota"},
		{name: "mem-limit", yaml: `mem_limit: 64m`, want: func(s *effective.Settings) { s.Memory = 64 << 20 }},
		{name: "deploy-memory", yaml: `deploy: {resources: {limits: {memory: 32M}}}`, want: func(s *effective.Settings) { s.Memory = 32 << 20 }},
		{name: "mem-limit-and-deploy-memory", yaml: "mem_limit: 48m\ndeploy: {resources: {limits: {memory: 48M}}}", want: func(s *effective.Settings) { s.Memory = 48 << 20 }},
		{name: "mem-limit-and-other-deploy-memory", yaml: "mem_limit: 48m\ndeploy: {resources: {limits: {memory: 32M}}}", err: "mem_limit"},
		{name: "memswap-limit", yaml: "mem_limit: 64m\nmemswap_limit: 96m", want: func(s *effective.Settings) { s.Memory, s.MemorySwap = 64<<20, 96<<20 }},
		{name: "memswap-limit-unlimited", yaml: "mem_limit: 64m\nmemswap_limit: -1", want: func(s *effective.Settings) { s.Memory, s.MemorySwap = 64<<20, -1 }},
		{name: "pids-limit-unlimited", yaml: `pids_limit: -1`},
		{name: "pids-limit", yaml: `pids_limit: 50`, want: func(s *effective.Settings) { s.PidsLimit = 50 }},
		{name: "deploy-pids", yaml: `deploy: {resources: {limits: {pids: 60}}}`, want: func(s *effective.Settings) { s.PidsLimit = 60 }},
		{name: "ulimits", yaml: "ulimits:\n  nofile: {soft: 1024, hard: 2048}\n  nproc: 512", want: func(s *effective.Settings) {
			s.Ulimits = []string{"nofile=1024:2048", "nproc=512:512"}
		}},
		{name: "ulimit-core", yaml: `ulimits: {core: 0}`, want: func(s *effective.Settings) { s.Ulimits = []string{"core=0:0"} }},
		{name: "shm-size", yaml: `shm_size: 32m`, want: func(s *effective.Settings) { s.ShmSize = 32 << 20 }},

		// capabilities and security options
		{name: "cap-add", yaml: `cap_add: [NET_ADMIN, SYS_TIME]`, want: caps([]string{"NET_ADMIN", "SYS_TIME"}, nil)},
		{name: "cap-drop", yaml: `cap_drop: [CHOWN, NET_RAW]`, want: caps(nil, []string{"CHOWN", "NET_RAW"})},
		{name: "cap-drop-all-add-one", yaml: "cap_drop: [ALL]\ncap_add: [NET_BIND_SERVICE]", want: func(s *effective.Settings) { s.Caps = []string{"NET_BIND_SERVICE"} }},
		{name: "cap-add-prefixed", yaml: `cap_add: [CAP_SYS_PTRACE]`, want: caps([]string{"SYS_PTRACE"}, nil)},
		{name: "cap-names-lower-case", yaml: "cap_add: [net_admin]\ncap_drop: [cap_chown]", want: caps([]string{"NET_ADMIN"}, []string{"CHOWN"})},
		{name: "cap-add-non-root", yaml: "user: nobody\ncap_add: [NET_ADMIN]", want: func(s *effective.Settings) {
			nobody(s)
			caps([]string{"NET_ADMIN"}, nil)(s)
		}},
		{name: "no-new-privileges", yaml: `security_opt: ["no-new-privileges:true"]`, want: func(s *effective.Settings) { s.NoNewPrivs = true }},
		{name: "no-new-privileges-bare", yaml: `security_opt: [no-new-privileges]`, want: func(s *effective.Settings) { s.NoNewPrivs = true }},
		{name: "no-new-privileges-equals", yaml: `security_opt: ["no-new-privileges=true"]`, want: func(s *effective.Settings) { s.NoNewPrivs = true }},
		{name: "seccomp-unconfined", yaml: `security_opt: ["seccomp:unconfined"]`, want: func(s *effective.Settings) { s.Seccomp = false }},
		{name: "systempaths-unconfined", yaml: `security_opt: ["systempaths=unconfined"]`, want: func(s *effective.Settings) { s.MaskedPaths = false }},
		{name: "systempaths-unconfined-with-seccomp", yaml: `security_opt: ["systempaths=unconfined", "seccomp=unconfined"]`, want: func(s *effective.Settings) {
			s.MaskedPaths, s.Seccomp = false, false
		}},
		{name: "sysctls-map", yaml: "sysctls:\n  net.core.somaxconn: \"1024\"\n  kernel.shm_rmid_forced: \"1\"", want: func(s *effective.Settings) {
			s.Sysctls = []string{"kernel.shm_rmid_forced=1", "net.core.somaxconn=1024"}
		}},
		{name: "sysctls-list", yaml: `sysctls: [net.ipv4.ip_unprivileged_port_start=2000]`, want: func(s *effective.Settings) {
			s.Sysctls = []string{"net.ipv4.ip_unprivileged_port_start=2000"}
		}},

		// read_only, tmpfs and mounts
		{name: "read-only", yaml: `read_only: true`, want: func(s *effective.Settings) { s.ReadonlyRootfs = true }},
		{name: "read-only-with-tmpfs", yaml: "read_only: true\ntmpfs: [/run, \"/tmp:size=1m,mode=0700\"]", want: func(s *effective.Settings) {
			s.ReadonlyRootfs = true
			s.Mounts = []effective.Mount{effective.TmpfsMount("/run", false, false, 0, 0), effective.TmpfsMount("/tmp", false, false, 1<<20, 0o700)}
		}},
		// The image's VOLUME stays writable under a read-only root.
		{name: "read-only-image-volume", full: true, yaml: `read_only: true`, want: func(s *effective.Settings) { s.ReadonlyRootfs = true }},
		{name: "tmpfs-string", yaml: `tmpfs: /cache`, want: mounts(effective.TmpfsMount("/cache", false, false, 0, 0))},
		{name: "tmpfs-exec", yaml: `tmpfs: ["/x:exec"]`, want: mounts(effective.TmpfsMount("/x", false, true, 0, 0))},
		{name: "tmpfs-read-only", yaml: `tmpfs: ["/ro:ro,size=64k"]`, want: mounts(effective.TmpfsMount("/ro", true, false, 64<<10, 0))},
		{name: "tmpfs-owner", yaml: `tmpfs: ["/own:uid=1000,gid=1001,mode=0750"]`, want: func(s *effective.Settings) {
			m := effective.TmpfsMount("/own", false, false, 0, 0o750)
			m.UID, m.GID = 1000, 1001
			mounts(m)(s)
		}},
		{name: "tmpfs-volume", yaml: "volumes:\n  - type: tmpfs\n    target: /cache\n    tmpfs: {size: 2m, mode: 0o1770}",
			want: mounts(effective.TmpfsMount("/cache", false, false, 2<<20, 0o1770))},
		{name: "bind-read-only", yaml: `volumes: ["./data:/mnt/data:ro"]`, want: mounts(effective.Mount{Target: "/mnt/data", Kind: "dir", ReadOnly: true})},
		{name: "bind", yaml: `volumes: ["./data:/mnt/data"]`, want: mounts(effective.Mount{Target: "/mnt/data", Kind: "dir"})},
		{name: "named-volume", yaml: `volumes: ["vol:/vol"]`, want: mounts(effective.Mount{Target: "/vol", Kind: "dir"})},
		{name: "named-volume-read-only", yaml: `volumes: ["vol:/vol:ro"]`, want: mounts(effective.Mount{Target: "/vol", Kind: "dir", ReadOnly: true})},
		{name: "anonymous-volume", yaml: `volumes: [/anon]`, want: mounts(effective.Mount{Target: "/anon", Kind: "dir"})},
		// A service volume at the image's VOLUME replaces it.
		{name: "image-volume-covered", full: true, yaml: `volumes: ["vol2:/data:ro"]`, want: mounts(effective.Mount{Target: "/data", Kind: "dir", ReadOnly: true})},
		{name: "secret-file", yaml: `secrets: [s1]`, want: mounts(effective.Mount{Target: "/run/secrets/s1", Kind: "dir", ReadOnly: true})},
		// A file secret is bound read-only; content has to be written in,
		// which docker compose refuses for a read-only container.
		{name: "read-only-with-secret-file", yaml: "read_only: true\nsecrets: [s1]", want: func(s *effective.Settings) {
			s.ReadonlyRootfs = true
			mounts(effective.Mount{Target: "/run/secrets/s1", Kind: "dir", ReadOnly: true})(s)
		}},
		{name: "read-only-with-config-content", yaml: "read_only: true\nconfigs: [c1]", err: "read-only service"},
		{name: "secret-file-target", yaml: `secrets: [{source: s1, target: custom}]`, want: mounts(effective.Mount{Target: "/run/secrets/custom", Kind: "dir", ReadOnly: true})},

		// healthcheck, with the image's HEALTHCHECK
		{name: "healthcheck", yaml: "healthcheck:\n  test: [CMD, \"true\"]\n  interval: 5s\n  timeout: 2s\n  retries: 5\n  start_period: 1s",
			want: health(&effective.Health{Test: []string{"CMD", "true"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, StartPeriod: time.Second, Retries: 5})},
		{name: "healthcheck-string", yaml: "healthcheck:\n  test: exit 0", want: health(&effective.Health{Test: []string{"CMD-SHELL", "exit 0"}})},
		{name: "healthcheck-start-interval", yaml: "healthcheck:\n  test: [CMD, \"true\"]\n  start_period: 10s\n  start_interval: 1s",
			want: health(&effective.Health{Test: []string{"CMD", "true"}, StartPeriod: 10 * time.Second, StartInterval: time.Second})},
		{name: "healthcheck-start-interval-alone", yaml: "healthcheck:\n  test: [CMD, \"true\"]\n  start_interval: 1s", err: "start_interval"},
		{name: "healthcheck-disable", full: true, yaml: `healthcheck: {disable: true}`, want: health(nil)},
		{name: "healthcheck-none", full: true, yaml: `healthcheck: {test: [NONE]}`, want: health(nil)},
		{name: "healthcheck-interval-over-image", full: true, yaml: `healthcheck: {interval: 9s}`, want: func(s *effective.Settings) { s.Health.Interval = 9 * time.Second }},
		// A zero duration or count is the image's, as the Engine takes it.
		{name: "healthcheck-zero-is-image", full: true, yaml: `healthcheck: {interval: 0s, retries: 0}`},
		{name: "healthcheck-test-over-image", full: true, yaml: `healthcheck: {test: [CMD, "sh", "-c", "exit 0"]}`, want: func(s *effective.Settings) {
			s.Health.Test = []string{"CMD", "sh", "-c", "exit 0"}
		}},

		// stop signal and grace period
		{name: "stop-signal", yaml: `stop_signal: SIGINT`, want: func(s *effective.Settings) { s.StopSignal = "SIGINT" }},
		{name: "stop-signal-over-image", full: true, yaml: `stop_signal: SIGQUIT`, want: func(s *effective.Settings) { s.StopSignal = "SIGQUIT" }},
		{name: "stop-grace-period", yaml: `stop_grace_period: 1m30s`, want: grace(90 * time.Second)},
		// Whole seconds, truncated, as docker compose sends them.
		{name: "stop-grace-period-truncated", yaml: `stop_grace_period: 1500ms`, want: grace(time.Second)},
		{name: "stop-grace-period-under-a-second", yaml: `stop_grace_period: 500ms`, want: grace(0)},

		// init, tty and stdin
		{name: "init", yaml: `init: true`, want: func(s *effective.Settings) { s.Init = true }},
		{name: "init-false", yaml: `init: false`},
		{name: "init-full-image", full: true, yaml: `init: true`, want: func(s *effective.Settings) { s.Init = true }},
		{name: "tty", yaml: `tty: true`, want: func(s *effective.Settings) { s.TTY = true; env("TERM=xterm")(s) }},
		{name: "stdin-open", yaml: `stdin_open: true`, want: func(s *effective.Settings) { s.StdinOpen = true }},
		{name: "tty-and-stdin-open", yaml: "tty: true\nstdin_open: true", want: func(s *effective.Settings) {
			s.TTY, s.StdinOpen = true, true
			env("TERM=xterm")(s)
		}},

		// labels, with the image's LABEL
		{name: "labels-over-image", full: true, yaml: "labels:\n  svc.only: service\n  img.over: service", want: func(s *effective.Settings) {
			s.Labels["svc.only"], s.Labels["img.over"] = "service", "service"
		}},
		{name: "labels-list", yaml: `labels: ["x=y"]`, want: func(s *effective.Settings) { s.Labels = map[string]string{"x": "y"} }},

		// ports
		{name: "ports", yaml: `ports: ["127.0.0.1:${PORT_A}:80"]`, want: ports("127.0.0.1:" + strconv.Itoa(e.PortA) + "->80/tcp")},
		{name: "ports-udp", yaml: `ports: ["127.0.0.1:${PORT_B}:53/udp"]`, want: ports("127.0.0.1:" + strconv.Itoa(e.PortB) + "->53/udp")},
		{name: "ports-random", yaml: `ports: ["127.0.0.1::81"]`, want: ports("127.0.0.1:0->81/tcp")},

		// networks and aliases
		{name: "network-aliases", yaml: "networks:\n  default:\n    aliases: [al1, al2]", want: func(s *effective.Settings) {
			s.Aliases = []string{"default:al1", "default:al2", "default:network-aliases"}
		}},
		{name: "two-networks", yaml: `networks: [default, back]`, want: func(s *effective.Settings) {
			s.Aliases = []string{"back:two-networks", "default:two-networks"}
		}},
		{name: "hostname-on-network", yaml: "hostname: hn\nnetworks: [back]", want: func(s *effective.Settings) {
			s.Hostname, s.Aliases = "hn", []string{"back:hostname-on-network"}
		}},

		// logging options
		{name: "logging-options", yaml: "logging:\n  driver: json-file\n  options: {max-size: 1m, max-file: \"3\"}", want: func(s *effective.Settings) {
			s.Log = effective.Log{MaxSize: 1 << 20, MaxFiles: 3}
		}},
		{name: "logging-non-blocking", yaml: `logging: {options: {mode: non-blocking}}`, want: func(s *effective.Settings) { s.Log.NonBlocking = true }},
	}
}

func args(a ...string) func(*effective.Settings) { return func(s *effective.Settings) { s.Args = a } }

// env sets variables, replacing those of the same name.
func env(kvs ...string) func(*effective.Settings) {
	return func(s *effective.Settings) {
		for _, kv := range kvs {
			k, _, _ := strings.Cut(kv, "=")
			unsetEnv(k)(s)
			s.Env = append(s.Env, kv)
		}
	}
}

func unsetEnv(k string) func(*effective.Settings) {
	return func(s *effective.Settings) {
		s.Env = slices.DeleteFunc(s.Env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") })
	}
}

func nobody(s *effective.Settings) {
	s.User, s.UID, s.GID, s.Groups, s.Home = "nobody", 65534, 65534, []int{65534}, "/nonexistent"
}

func restart(r string) func(*effective.Settings) {
	return func(s *effective.Settings) { s.Restart = r }
}

func cpus(nano, quota int64) func(*effective.Settings) {
	return func(s *effective.Settings) { s.NanoCPUs, s.CFSQuota = nano, quota }
}

func caps(add, drop []string) func(*effective.Settings) {
	return func(s *effective.Settings) {
		s.Caps = slices.DeleteFunc(slices.Clone(s.Caps), func(c string) bool { return slices.Contains(drop, c) })
		s.Caps = append(s.Caps, add...)
	}
}

// mounts adds to the image's mounts.
func mounts(m ...effective.Mount) func(*effective.Settings) {
	return func(s *effective.Settings) {
		for _, add := range m {
			s.Mounts = slices.DeleteFunc(s.Mounts, func(x effective.Mount) bool { return x.Target == add.Target })
			s.Mounts = append(s.Mounts, add)
		}
	}
}

func health(h *effective.Health) func(*effective.Settings) {
	return func(s *effective.Settings) { s.Health = h.WithDefaults() }
}

func grace(d time.Duration) func(*effective.Settings) {
	return func(s *effective.Settings) { s.StopTimeout = d }
}

func ports(p ...string) func(*effective.Settings) { return func(s *effective.Settings) { s.Ports = p } }
