package native

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/image"
	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
	"github.com/hoist-dev/hoist/internal/procfs"
	"github.com/hoist-dev/hoist/netplan"
)

// StartContainer mounts the container's overlay rootfs (its writable layer
// kept from earlier runs), prepares its etc files and network, and hands
// it to the project's supervisor (started if need be), which binds its
// published ports, starts it and owns it from then on, so it outlives
// this process. Starting a running (or restarting) container does nothing.
func (b *Backend) StartContainer(ctx context.Context, id string) error {
	r, unlock, err := b.lockContainer(id)
	if err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	defer unlock()
	if err := b.start(ctx, r); err != nil {
		return fmt.Errorf("start container %s: %w", r.Name, err)
	}
	return nil
}

func (b *Backend) start(ctx context.Context, r *record) error {
	st, started, err := b.status(r)
	if err != nil {
		return err
	}
	sup, err := b.ensureSupervisor(ctx, r.Project)
	if err != nil {
		return err
	}
	if started && st.Status == runtime.StatusRunning {
		return nil
	}
	if s, err := sup.State(ctx, r.ID); err == nil && (s.Status == supervisor.StatusRunning || s.Status == supervisor.StatusRestarting) {
		return nil
	}
	layers := r.Layers
	if img, err := b.store.Resolve(ctx, r.ImageID); err == nil {
		layers = img.Layers
	}
	for _, l := range layers {
		if _, err := os.Stat(l); err != nil {
			return fmt.Errorf("image %s (%s) is gone from the native store: %w", r.Image, r.ImageID, engine.ErrNotFound)
		}
	}
	dir := b.layerDir(r.ID)
	rootfs := filepath.Join(dir, "rootfs")
	// A mount left by a crash is replaced.
	if err := image.Unmount(rootfs); err != nil {
		return err
	}
	if err := image.MountRootfs(layers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), rootfs); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			_ = image.Unmount(rootfs)
		}
	}()
	if err := b.copyUp(r, rootfs); err != nil {
		return err
	}
	spec := r.Spec
	spec.Rootfs = rootfs
	if spec.Hosts, spec.HostnameFile, spec.ResolvConf, err = b.writeEtc(r); err != nil {
		return err
	}
	// A proxy process of an earlier version of hoist goes first.
	if err := b.killProxy(ctx, r); err != nil {
		return err
	}
	att, err := b.net.attach(ctx, r)
	if err != nil {
		return err
	}
	spec.Network = att.Network
	if att.Hosts != "" {
		spec.Hosts = att.Hosts
	}
	var ports []portproxy.Binding
	var resolved []netplan.Binding
	if len(r.Ports) > 0 && att.IP.IsValid() {
		if ports, resolved, err = resolvePorts(r, att.IP); err != nil {
			_ = b.net.detach(ctx, r)
			return err
		}
	}
	cfg, err := b.supConfig(r, spec, ports)
	if err != nil {
		_ = b.net.detach(ctx, r)
		return err
	}
	if err := sup.Run(ctx, cfg); err != nil {
		if errors.Is(err, supervisor.ErrExists) {
			ok = true
			return nil
		}
		_ = b.net.detach(ctx, r)
		return err
	}
	ok = true
	if len(ports) > 0 {
		s, err := sup.State(ctx, r.ID)
		if err == nil {
			err = b.recordPorts(r, resolved, s.Ports)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// StopContainer has the supervisor send the stop signal (the service's,
// else the image's, else SIGTERM) and kill after timeout; no restart
// policy restarts it then. It waits for the exit and unmounts the rootfs.
// The writable layer stays. Without a supervisor it stops the container
// from its state files.
func (b *Backend) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	return b.stopByID(ctx, id, timeout, true)
}

// StopProcesses stops the container as StopContainer does, but leaves
// its mounts and network to RemoveContainer (down's next step).
func (b *Backend) StopProcesses(ctx context.Context, id string, timeout time.Duration) error {
	return b.stopByID(ctx, id, timeout, false)
}

// stopByID stops the container under its lock and, with release, undoes
// what start did.
func (b *Backend) stopByID(ctx context.Context, id string, timeout time.Duration, release bool) error {
	r, unlock, err := b.lockContainer(id)
	if err != nil {
		return fmt.Errorf("stop container: %w", err)
	}
	defer unlock()
	if _, started, err := b.status(r); err != nil || !started {
		if err != nil {
			return fmt.Errorf("stop container %s: %w", r.Name, err)
		}
		return nil
	}
	if err := b.stopContainer(ctx, r, timeout); err != nil {
		return fmt.Errorf("stop container %s: %w", r.Name, err)
	}
	if release {
		if err := b.release(ctx, r); err != nil {
			return fmt.Errorf("stop container %s: %w", r.Name, err)
		}
	}
	return nil
}

// killAndWait stops the container at once (SIGKILL) and waits for the
// recorded exit.
func (b *Backend) killAndWait(ctx context.Context, r *record) error {
	return b.stopContainer(ctx, r, 0)
}

// release undoes what start did, after the container exited: the network,
// the rootfs mount and, when the monitor died before removing it, the
// cgroup.
func (b *Backend) release(ctx context.Context, r *record) error {
	var errs []error
	errs = append(errs, b.waitMonitorGone(ctx, r))
	errs = append(errs, b.killProxy(ctx, r))
	errs = append(errs, b.net.detach(ctx, r))
	errs = append(errs, image.Unmount(filepath.Join(b.layerDir(r.ID), "rootfs")))
	errs = append(errs, removeCgroups(r.ID))
	return errors.Join(errs...)
}

func exited(st runtime.State, started bool) (bool, error) {
	return started && st.Status == runtime.StatusExited, nil
}

// RemoveContainer removes the container: with Force a running one is
// killed first (else it is an ErrConflict). It leaves no mount, cgroup or
// process behind, and removes the writable layer and, with Volumes, the
// anonymous volumes.
func (b *Backend) RemoveContainer(ctx context.Context, id string, opts engine.RemoveOptions) error {
	r, unlock, err := b.lockContainer(id)
	if err != nil {
		return fmt.Errorf("remove container: %w", err)
	}
	defer unlock()
	st, started, err := b.status(r)
	if err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	supStatus := b.supervisedStatus(ctx, r)
	active := (started && st.Status == runtime.StatusRunning) || supStatus == supervisor.StatusRunning || supStatus == supervisor.StatusRestarting
	if active && !opts.Force {
		return fmt.Errorf("remove container %s: it is running; stop it first or force: %w", r.Name, engine.ErrConflict)
	}
	if started {
		if err := b.killAndWait(ctx, r); err != nil {
			return fmt.Errorf("remove container %s: %w", r.Name, err)
		}
	}
	if c := b.liveSupervisor(ctx, r.Project); c != nil {
		if err := c.Remove(ctx, r.ID); err != nil && !errors.Is(err, supervisor.ErrNotFound) {
			return fmt.Errorf("remove container %s: %w", r.Name, err)
		}
	}
	if err := errors.Join(b.release(ctx, r), b.net.release(ctx, r)); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	if err := b.layout().RemoveLayerContent(r.ID); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	if opts.Volumes {
		b.removeAnonymous(r)
	}
	if err := b.layout().RemoveRecord(r.Project, r.ID, r.Name); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	b.maybeTeardown(ctx, r.Project)
	return nil
}

// Kill sends signal (a name such as "SIGKILL" or "KILL", or a number;
// empty means SIGKILL) to the container's init.
func (b *Backend) Kill(ctx context.Context, id string, signal string) error {
	r, err := b.load(id)
	if err != nil {
		return fmt.Errorf("kill container: %w", err)
	}
	sig := syscall.SIGKILL
	if signal != "" {
		if sig, err = parseSignal(signal); err != nil {
			return err
		}
	}
	if c := b.liveSupervisor(ctx, r.Project); c != nil {
		err := c.Kill(ctx, r.ID, sig)
		if err == nil {
			return nil
		}
		if !errors.Is(err, supervisor.ErrNotFound) {
			return fmt.Errorf("kill container %s: %w: %w", r.Name, err, engine.ErrConflict)
		}
	}
	st, started, err := b.status(r)
	if err != nil {
		return fmt.Errorf("kill container %s: %w", r.Name, err)
	}
	if !started || st.Status != runtime.StatusRunning {
		return fmt.Errorf("kill container %s: it is not running: %w", r.Name, engine.ErrConflict)
	}
	if err := signalInit(st, sig); err != nil {
		return fmt.Errorf("kill container %s: %w", r.Name, err)
	}
	return nil
}

func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// signalInit signals the container's init through a pidfd, after checking
// that the pid still belongs to it (its start time), so a reused pid is
// never signalled.
func signalInit(st runtime.State, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(st.Pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("open container init: %w", err)
	}
	defer unix.Close(fd)
	if start, err := procStartTime(st.Pid); err != nil || start != st.StartTime {
		return nil // gone, and the pid is someone else's
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal container init: %w", err)
	}
	return nil
}

// procStartTime identifies a process together with its pid.
func procStartTime(pid int) (uint64, error) { return procfs.StartTime(pid) }

// waitMonitorGone waits (boundedly) for the container's monitor to exit:
// it records the exit just before it ends, and remove must leave no
// process behind. The pid is checked to still be this container's monitor
// (its command line names the state dir) before waiting on it.
func (b *Backend) waitMonitorGone(ctx context.Context, r *record) error {
	st, started, err := b.status(r)
	if err != nil || !started || st.MonitorPid <= 0 {
		return nil
	}
	fd, err := unix.PidfdOpen(st.MonitorPid, 0)
	if err != nil {
		return nil // gone
	}
	defer unix.Close(fd)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.MonitorPid))
	if err != nil || !strings.Contains(string(cmdline), b.stateDir(r.Project, r.ID)) {
		return nil // gone (or a zombie), or the pid is someone else's
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if n > 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
			return nil
		}
	}
	return fmt.Errorf("the monitor (pid %d) has not exited", st.MonitorPid)
}
