package native

// The per-project supervisor (engine/native/supervisor) owns every
// started container: it is their parent, records their exits, captures
// their logs, restarts them by policy, probes their health and serves
// their published ports. The backend prepares what the supervisor cannot
// (rootfs mount, etc files, the network namespace) and hands it the
// container with Client.Run. When the supervisor died, the backend still
// stops and removes containers from the files (StopUnsupervised,
// Teardown), and the next up or start adopts them (supervisor.Ensure).

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
	"github.com/hoist-dev/hoist/netplan"
	"github.com/hoist-dev/hoist/runspec"
)

// supDir is the project's supervisor dir (its socket, lock and records).
func (b *Backend) supDir(project string) string { return b.projectDir(project) }

// ensureSupervisor returns the project's supervisor, starting one (which
// adopts the containers of a dead one) if none answers.
func (b *Backend) ensureSupervisor(ctx context.Context, project string) (*supervisor.Client, error) {
	c, err := supervisor.Ensure(ctx, project, b.supDir(project))
	if err != nil {
		return nil, fmt.Errorf("project %s: supervisor: %w", project, err)
	}
	return c, nil
}

// liveSupervisor returns the project's supervisor if it runs, else nil;
// it never starts one.
func (b *Backend) liveSupervisor(ctx context.Context, project string) *supervisor.Client {
	c, err := supervisor.Connect(ctx, b.supDir(project))
	if err != nil {
		return nil
	}
	return c
}

// restartPolicy is r as a supervisor.ParseRestartPolicy string.
func restartPolicy(r runspec.Restart) string {
	if r.Mode == runspec.RestartOnFailure && r.MaxAttempts > 0 {
		return "on-failure:" + strconv.Itoa(r.MaxAttempts)
	}
	if r.Mode == runspec.RestartNo {
		return ""
	}
	return string(r.Mode)
}

// supHealthcheck converts a merged compose healthcheck.
func supHealthcheck(hc *types.HealthCheckConfig) *supervisor.Healthcheck {
	if hc == nil {
		return nil
	}
	d := func(v *types.Duration) time.Duration {
		if v == nil {
			return 0
		}
		return time.Duration(*v)
	}
	out := &supervisor.Healthcheck{
		Test: hc.Test, Interval: d(hc.Interval), Timeout: d(hc.Timeout),
		StartPeriod: d(hc.StartPeriod), StartInterval: d(hc.StartInterval),
	}
	if hc.Retries != nil {
		out.Retries = int(*hc.Retries)
	}
	return out
}

// stopSignal is the container's stop signal (SIGTERM by default).
func (r *record) stopSignal() (syscall.Signal, error) {
	if r.StopSignal == "" {
		return syscall.SIGTERM, nil
	}
	return parseSignal(r.StopSignal)
}

// supConfig is what the supervisor needs to run r with spec.
func (b *Backend) supConfig(r *record, spec runtime.Spec, ports []portproxy.Binding) (supervisor.ContainerConfig, error) {
	pol, err := supervisor.ParseRestartPolicy(r.Restart)
	if err != nil {
		return supervisor.ContainerConfig{}, err
	}
	sig, err := r.stopSignal()
	if err != nil {
		return supervisor.ContainerConfig{}, err
	}
	cfg := supervisor.ContainerConfig{
		ID: r.ID, Spec: spec, StateDir: b.stateDir(r.Project, r.ID),
		Restart: pol, Healthcheck: supHealthcheck(r.Healthcheck), Ports: ports, StopSignal: sig,
		LogMaxSize: r.Log.MaxSize, LogMaxFiles: r.Log.MaxFiles, LogNonBlocking: r.Log.NonBlocking,
		StdinOpen: r.StdinOpen,
	}
	if r.StopTimeout != nil {
		cfg.StopGrace = *r.StopTimeout
	}
	return cfg, nil
}

// resolvePorts picks the host ports of r (ranges resolved, netplan's
// clear error for a port in use) forwarded to target.
func resolvePorts(r *record, target netip.Addr) ([]portproxy.Binding, []netplan.Binding, error) {
	resolved, err := netplan.Resolve(r.Ports, netplan.CheckOptions{Probe: netplan.HostProbe})
	if err != nil {
		return nil, nil, err
	}
	var out []portproxy.Binding
	for _, p := range resolved {
		out = append(out, portproxy.Binding{HostIP: p.HostIP, HostPort: p.HostPort, Proto: p.Protocol, TargetIP: target, TargetPort: p.ContainerPort})
	}
	return out, resolved, nil
}

// recordPorts writes the bound ports (the supervisor's addresses, in the
// order of the bindings) to proxy.json for ps and port; its pid is 0:
// the supervisor serves them.
func (b *Backend) recordPorts(r *record, resolved []netplan.Binding, addrs []string) error {
	rec := proxyRecord{}
	for i, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || i >= len(resolved) {
			continue
		}
		rec.Ports = append(rec.Ports, engine.PortBinding{HostIP: ap.Addr().String(), HostPort: ap.Port(), ContainerPort: resolved[i].ContainerPort, Protocol: resolved[i].Protocol})
	}
	return writeJSON(filepath.Join(b.stateDir(r.Project, r.ID), proxyFile), rec)
}

// stopContainer stops r through its supervisor, or from the files when
// no supervisor runs (or it does not know r). timeout < 0 means the
// container's stop grace.
func (b *Backend) stopContainer(ctx context.Context, r *record, timeout time.Duration) error {
	if c := b.liveSupervisor(ctx, r.Project); c != nil {
		err := c.Stop(ctx, r.ID, timeout)
		if err == nil || !errors.Is(err, supervisor.ErrNotFound) {
			return err
		}
	}
	sig, err := r.stopSignal()
	if err != nil {
		return err
	}
	if timeout < 0 {
		timeout = 10 * time.Second
		if r.StopTimeout != nil {
			timeout = *r.StopTimeout
		}
	}
	return supervisor.StopUnsupervised(ctx, b.supDir(r.Project), r.ID, b.stateDir(r.Project, r.ID), sig, timeout)
}

// supervisedStatus is r's status in its supervisor ("" when none runs or
// it does not know r).
func (b *Backend) supervisedStatus(ctx context.Context, r *record) supervisor.Status {
	c := b.liveSupervisor(ctx, r.Project)
	if c == nil {
		return ""
	}
	st, err := c.State(ctx, r.ID)
	if err != nil {
		return ""
	}
	return st.Status
}

// LockProject serialises `up` of one project across hoist processes (an
// flock on <RunDir>/<project>/up.lock), and takes over the project's
// containers when their supervisor died. unlock removes the project's
// run dir again when nothing was made.
func (b *Backend) LockProject(ctx context.Context, project string) (func(), error) {
	if err := checkName("project", project); err != nil {
		return nil, err
	}
	dir := b.projectDir(project)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock project %s: %w", project, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "up.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock project %s: %w", project, err)
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock project %s: %w", project, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock project %s: %w", project, ctx.Err())
		case <-time.After(delay):
		}
	}
	unlock := func() {
		b.maybeTeardown(context.WithoutCancel(ctx), project)
		f.Close()
	}
	if recs, _ := filepath.Glob(filepath.Join(b.supDir(project), "containers", "*.json")); len(recs) > 0 {
		if _, ok := supervisor.Running(b.supDir(project)); !ok {
			if _, err := b.ensureSupervisor(ctx, project); err != nil {
				unlock()
				return nil, err
			}
		}
	}
	return unlock, nil
}

// warnUnsupervised tells (through Logf) that the project has running
// containers and no supervisor.
func (b *Backend) warnUnsupervised(project string, containers []engine.Container) {
	for _, c := range containers {
		if c.State == engine.StateRunning {
			if _, ok := supervisor.Running(b.supDir(project)); !ok {
				b.logf("supervisor for project %s is not running; containers are unsupervised (hoist up -d takes them over)", project)
			}
			return
		}
	}
}

// teardownSupervisor ends the project's supervisor (gracefully when it
// answers) and removes its files.
func (b *Backend) teardownSupervisor(ctx context.Context, project string) error {
	dir := b.supDir(project)
	if c := b.liveSupervisor(ctx, project); c != nil {
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_ = c.Shutdown(sctx)
		cancel()
	}
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	if err := supervisor.Teardown(dir); err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	return nil
}
