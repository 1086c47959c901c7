// Package effective is the engine-neutral model of a container's
// effective settings (what the engine made of its configuration: command,
// environment, user, limits, capabilities, mounts, healthcheck, ...) and
// how to read them from inside a running container, so that the
// translation conformance test (package enginetest) compares every
// engine's view, the view from inside and docker compose's.
package effective

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Settings are a container's effective settings in terms no engine owns,
// so that what the docker engine recorded (the Engine's inspect), what
// the native engine recorded (its container record), what runs (seen
// from inside the container) and what docker compose created can be
// compared field by field. A view fills the fields it observes (see
// ConfigFields and InsideFields); the others stay zero and are not
// compared for it.
type Settings struct {
	// Args is the main process's argv: the entrypoint and the command.
	Args []string
	// Env is the main process's environment, sorted, without HOSTNAME
	// (Hostname says it) and HOME (Home says it).
	Env []string
	// Home is the main process's HOME, which the runtime sets from the
	// user's passwd entry (inside only).
	Home string
	// User is the configured user as written ("nobody", "1000:1000").
	User string
	// UID, GID and Groups (sorted) are the main process's (inside only).
	UID, GID int
	Groups   []int
	Cwd      string
	// Hostname is "" for the engine's default, the container ID's first
	// 12 characters.
	Hostname string
	// Restart is "no", "always", "unless-stopped", "on-failure" or
	// "on-failure:N".
	Restart string
	// Memory and MemorySwap (memory plus swap) are limits in bytes, 0
	// for none.
	Memory     int64
	MemorySwap int64
	// NanoCPUs is the configured CPU limit; CFSQuota and CFSPeriod (µs)
	// are the CPU controller's, inside only (-1 quota: none).
	NanoCPUs            int64
	CFSQuota, CFSPeriod int64
	// PidsLimit is 0 for none.
	PidsLimit int64
	// Ulimits are "name=soft:hard", sorted; inside, only the names the
	// row sets are read (the others are the engine process's own).
	Ulimits []string
	// ShmSize is /dev/shm's size in bytes.
	ShmSize int64
	// Caps is the bounding set, CapEff the main process's effective set
	// (empty for a user other than root), as names without CAP_, sorted.
	Caps   []string
	CapEff []string
	// NoNewPrivs and Seccomp (a filter is on) are the main process's.
	NoNewPrivs bool
	Seccomp    bool
	// MaskedPaths: Docker's masked paths (/proc/kcore, ...) are hidden.
	MaskedPaths    bool
	ReadonlyRootfs bool
	// Mounts are the mounts the configuration adds (volumes, binds,
	// tmpfs, secrets), sorted by target; the runtime's own (/proc, /dev,
	// /sys, /etc/hosts, ...) are left out.
	Mounts []Mount
	// Sysctls are "key=value", sorted.
	Sysctls []string
	// Health is nil without a healthcheck; its fields are filled with
	// the image's values and then Docker's defaults.
	Health      *Health
	StopSignal  string
	StopTimeout time.Duration
	// Init: an init process is pid 1 and runs the command as its child.
	Init bool
	// TTY: the main process's stdin is a terminal.
	TTY       bool
	StdinOpen bool
	// Labels are the container's labels, the image's included, without
	// the ones the orchestrator adds (com.docker.compose.*, dev.hoist.*).
	Labels map[string]string
	// Ports are "hostip:hostport->port/proto" (hostport 0: random),
	// sorted.
	Ports []string
	// Aliases are "network:alias" with the network's compose key, sorted,
	// without the container's name, its short ID and its hostname (names
	// the Engine resolves by itself on newer daemons).
	Aliases []string
	// Log are the json-file driver's options that both engines apply.
	Log Log
}

// Mount is one mount as the container sees it. Kind is "tmpfs", or
// "dir" for a bind or a volume (both a directory bound in).
type Mount struct {
	Target                string
	Kind                  string
	ReadOnly              bool
	NoExec, NoSuid, NoDev bool
	// Size (bytes), Mode and owner of a tmpfs; 0 for the kernel's
	// defaults (half the RAM, 1777, root).
	Size     int64
	Mode     uint32
	UID, GID int
}

func (m Mount) String() string {
	s := m.Target + " " + m.Kind
	if m.ReadOnly {
		s += " ro"
	} else {
		s += " rw"
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{m.NoExec, "noexec"}, {m.NoSuid, "nosuid"}, {m.NoDev, "nodev"}} {
		if f.on {
			s += "," + f.name
		}
	}
	if m.Size != 0 {
		s += fmt.Sprintf(",size=%d", m.Size)
	}
	if m.Mode != 0 {
		s += fmt.Sprintf(",mode=%o", m.Mode)
	}
	if m.UID != 0 || m.GID != 0 {
		s += fmt.Sprintf(",uid=%d,gid=%d", m.UID, m.GID)
	}
	return s
}

// TmpfsMount is a tmpfs as Docker mounts one: nosuid and nodev, noexec
// unless exec was asked for.
func TmpfsMount(target string, readOnly, exec bool, size int64, mode uint32) Mount {
	if mode == 0o1777 {
		mode = 0
	}
	return Mount{Target: target, Kind: "tmpfs", ReadOnly: readOnly, NoExec: !exec, NoSuid: true, NoDev: true, Size: size, Mode: mode}
}

// Health is a resolved healthcheck.
type Health struct {
	Test                                          []string
	Interval, Timeout, StartPeriod, StartInterval time.Duration
	Retries                                       int
}

// Docker's healthcheck defaults, which both engines apply to what
// neither the service nor the image sets.
func (h *Health) WithDefaults() *Health {
	if h == nil {
		return nil
	}
	out := *h
	if out.Interval == 0 {
		out.Interval = 30 * time.Second
	}
	if out.Timeout == 0 {
		out.Timeout = 30 * time.Second
	}
	if out.StartInterval == 0 {
		out.StartInterval = 5 * time.Second
	}
	if out.Retries == 0 {
		out.Retries = 3
	}
	return &out
}

// HealthWithDefaults fills what a healthcheck leaves zero with Docker's
// defaults; nil and a NONE test are no healthcheck.
func HealthWithDefaults(h *Health) *Health {
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	return h.WithDefaults()
}

// Log are the logging options of the file drivers.
type Log struct {
	MaxSize     int64
	MaxFiles    int
	NonBlocking bool
}

// View is what one observer saw of a container.
type View struct {
	// ID is the container's full ID.
	ID       string
	Settings Settings
	// Blind names fields (or Health's fields, as "Health.StartInterval")
	// this observer cannot see on this engine, each with the reason;
	// they are not compared.
	Blind map[string]string
}

// Inspector reads the settings an engine recorded for one of its
// containers: the docker engine's test from the Engine's inspect, the
// native engine's from its container record. It fills ConfigFields.
type Inspector interface {
	Inspect(ctx context.Context, id string) (View, error)
}

// ConfigFields are the fields an engine's record shows; InsideFields
// those a process in the container sees.
var (
	ConfigFields = []string{"Args", "Env", "User", "Cwd", "Hostname", "Restart", "Memory", "NanoCPUs",
		"PidsLimit", "Ulimits", "ShmSize", "Caps", "NoNewPrivs", "Seccomp", "MaskedPaths", "ReadonlyRootfs", "Mounts",
		"Sysctls", "Health", "StopSignal", "StopTimeout", "Init", "TTY", "StdinOpen", "Labels", "Ports",
		"Aliases", "Log"}
	InsideFields = []string{"Args", "Env", "Home", "UID", "GID", "Groups", "Cwd", "Hostname", "Memory",
		"MemorySwap", "CFSQuota", "CFSPeriod", "PidsLimit", "Ulimits", "ShmSize", "Caps", "CapEff",
		"NoNewPrivs", "Seccomp", "MaskedPaths", "ReadonlyRootfs", "Mounts", "Sysctls", "Init", "TTY"}
)

// diff compares the fields of got with want and returns one line per
// difference. Blind fields are skipped.
func Diff(want, got Settings, fields []string, blind map[string]string) []string {
	var out []string
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for _, f := range fields {
		if _, ok := blind[f]; ok {
			continue
		}
		w, g := wv.FieldByName(f).Interface(), gv.FieldByName(f).Interface()
		if f == "Health" {
			w, g = blindHealth(want.Health, blind), blindHealth(got.Health, blind)
		}
		if !equal(w, g) {
			out = append(out, fmt.Sprintf("%s = %s, want %s", f, show(g), show(w)))
		}
	}
	return out
}

// blindDiff is the difference on a blind field ("Health.X" for one of
// Health's), "" when there is none.
func BlindDiff(want, got Settings, field string) string {
	name, ok := strings.CutPrefix(field, "Health.")
	if !ok {
		if d := Diff(want, got, []string{field}, nil); len(d) > 0 {
			return d[0]
		}
		return ""
	}
	if want.Health == nil || got.Health == nil {
		return ""
	}
	w := reflect.ValueOf(*want.Health).FieldByName(name).Interface()
	g := reflect.ValueOf(*got.Health).FieldByName(name).Interface()
	if equal(w, g) {
		return ""
	}
	return fmt.Sprintf("%s = %s, the row wants %s", field, show(g), show(w))
}

// blindHealth zeroes the Health fields named "Health.X" in blind.
func blindHealth(h *Health, blind map[string]string) any {
	if h == nil {
		return h
	}
	c := *h
	v := reflect.ValueOf(&c).Elem()
	for k := range blind {
		if name, ok := strings.CutPrefix(k, "Health."); ok {
			v.FieldByName(name).SetZero()
		}
	}
	return &c
}

// equal is DeepEqual with nil and empty slices and maps alike.
func equal(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if (va.Kind() == reflect.Slice || va.Kind() == reflect.Map) && va.Len() == 0 && vb.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func show(v any) string {
	switch x := v.(type) {
	case *Health:
		if x == nil {
			return "none"
		}
		return fmt.Sprintf("%+v", *x)
	case []Mount:
		var s []string
		for _, m := range x {
			s = append(s, m.String())
		}
		return fmt.Sprintf("%q", s)
	case []string:
		return fmt.Sprintf("%q", x)
	case time.Duration:
		return x.String()
	}
	return fmt.Sprintf("%v", v)
}

// DefaultCaps are Docker's 14 default capabilities.
var DefaultCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// capNames are the capabilities by number.
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE",
	"AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

// AllCaps are the capabilities this kernel has.
func AllCaps() []string {
	last := len(capNames) - 1
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n < len(capNames) {
			last = n
		}
	}
	out := slices.Clone(capNames[:last+1])
	slices.Sort(out)
	return out
}

// EffectiveCaps is the bounding set Docker gives a container: every
// capability when privileged; with ALL added, every one but those
// dropped; with ALL dropped, only those added; else its defaults with the
// drops removed and the adds added. Names go with or without CAP_.
func EffectiveCaps(add, drop []string, privileged bool) []string {
	if privileged {
		return AllCaps()
	}
	norm := func(l []string) []string {
		var out []string
		for _, s := range l {
			out = append(out, strings.TrimPrefix(strings.ToUpper(s), "CAP_"))
		}
		return out
	}
	add, drop = norm(add), norm(drop)
	set := map[string]bool{}
	switch {
	case slices.Contains(add, "ALL"):
		for _, c := range AllCaps() {
			set[c] = true
		}
	case slices.Contains(drop, "ALL"):
	default:
		for _, c := range DefaultCaps {
			set[c] = true
		}
	}
	for _, d := range drop {
		delete(set, d)
	}
	if !slices.Contains(add, "ALL") {
		for _, a := range add {
			set[a] = true
		}
	}
	var out []string
	for c := range set {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// capsFromMask names the capabilities of a /proc status mask.
func capsFromMask(hex string) ([]string, error) {
	mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
	if err != nil {
		return nil, fmt.Errorf("capability mask %q: %w", hex, err)
	}
	var out []string
	for i := 0; i < 64; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if i >= len(capNames) {
			out = append(out, fmt.Sprintf("CAP_%d", i))
			continue
		}
		out = append(out, capNames[i])
	}
	slices.Sort(out)
	return out, nil
}
