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
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// StartContainer mounts the container's overlay rootfs (its writable layer
// kept from earlier runs), prepares its etc files and network, and starts
// it under a detached monitor, so it outlives this process. Starting a
// running container does nothing.
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
	if started && st.Status == runtime.StatusRunning {
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
	att, err := b.net.attach(ctx, r)
	if err != nil {
		return err
	}
	spec.Network = att.Network
	if att.Hosts != "" {
		spec.Hosts = att.Hosts
	}
	var proxy *proxyHandle
	if len(r.Ports) > 0 && att.IP.IsValid() {
		if proxy, err = b.startProxy(ctx, r, att.IP); err != nil {
			_ = b.net.detach(ctx, r)
			return err
		}
	}
	if _, err := runtime.StartDetached(ctx, spec, b.stateDir(r.Project, r.ID)); err != nil {
		proxy.abort(ctx, r)
		_ = b.net.detach(ctx, r)
		return err
	}
	ok = true
	if proxy != nil {
		st, _, err := b.status(r)
		if err == nil {
			err = proxy.commit(st)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// StopContainer sends the stop signal (the service's, else the image's,
// else SIGTERM), kills after timeout, waits for the monitor to record the
// exit and unmounts the rootfs. The writable layer stays.
func (b *Backend) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	r, unlock, err := b.lockContainer(id)
	if err != nil {
		return fmt.Errorf("stop container: %w", err)
	}
	defer unlock()
	if err := b.stop(ctx, r, timeout); err != nil {
		return fmt.Errorf("stop container %s: %w", r.Name, err)
	}
	return nil
}

func (b *Backend) stop(ctx context.Context, r *record, timeout time.Duration) error {
	sig := syscall.SIGTERM
	if r.StopSignal != "" {
		s, err := parseSignal(r.StopSignal)
		if err != nil {
			return err
		}
		sig = s
	}
	st, started, err := b.status(r)
	if err != nil {
		return err
	}
	if started && st.Status == runtime.StatusRunning {
		if err := signalInit(st, sig); err != nil {
			return err
		}
		tctx, cancel := context.WithTimeout(ctx, timeout)
		_, _, err := b.waitState(tctx, r, exited)
		cancel()
		if err != nil && ctx.Err() == nil {
			if err := b.killAndWait(ctx, r); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return b.release(ctx, r)
}

// killAndWait sends SIGKILL and waits for the recorded exit.
func (b *Backend) killAndWait(ctx context.Context, r *record) error {
	st, started, err := b.status(r)
	if err != nil || !started || st.Status != runtime.StatusRunning {
		return err
	}
	if err := signalInit(st, syscall.SIGKILL); err != nil {
		return err
	}
	_, _, err = b.waitState(ctx, r, exited)
	return err
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
	if started && st.Status == runtime.StatusRunning {
		if !opts.Force {
			return fmt.Errorf("remove container %s: it is running; stop it first or force: %w", r.Name, engine.ErrConflict)
		}
		if err := b.killAndWait(ctx, r); err != nil {
			return fmt.Errorf("remove container %s: %w", r.Name, err)
		}
	}
	if err := errors.Join(b.release(ctx, r), b.net.release(ctx, r)); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	dir := b.layerDir(r.ID)
	for _, d := range []string{"rootfs", "upper", "work", "etc"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return fmt.Errorf("remove container %s: %w", r.Name, err)
		}
	}
	if opts.Volumes {
		b.removeAnonymous(r)
	}
	// The record goes last but one: until then a retry finds the container.
	if err := os.RemoveAll(b.stateDir(r.Project, r.ID)); err != nil {
		return fmt.Errorf("remove container %s: %w", r.Name, err)
	}
	b.releaseName(r.Name, r.ID)
	_ = os.RemoveAll(dir)
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

// procStartTime reads field 22 of /proc/<pid>/stat.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("malformed stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

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
