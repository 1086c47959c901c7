package native

// Published ports: one userland proxy process per container
// (engine/native/portproxy), re-executed from hoist as the role
// "hoist-runtime:portproxy" in its own session, so it outlives the CLI that
// started it, as the container does.
//
// The protocol, over the proxy's stdin and stdout:
//
//  1. the starter writes one JSON line, the bindings (proxyConfig);
//  2. the proxy binds every port, or none, and answers one JSON line:
//     the bound addresses, or the bind error (proxyReady);
//  3. the starter starts the container and writes its init's pid and
//     start time (proxyWatch), then closes stdin.
//
// The proxy serves until SIGTERM, or until the container's init exits
// (it watches it with a pidfd), or, when stdin ends before step 3, at
// once: a starter that died or failed never leaves a proxy holding ports.
// Its pid and start time are in proxy.json in the container's state dir
// from the moment it exists, so stop, remove and down end it from any
// process, and a reused pid is never signalled.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/netplan"
)

const (
	proxyRole    = "hoist-runtime:portproxy"
	proxyFile    = "proxy.json"
	proxyLogFile = "portproxy.log"
	// proxyReadyTimeout bounds binding the ports.
	proxyReadyTimeout = 10 * time.Second
	// proxyStopTimeout is how long a proxy gets to close after SIGTERM.
	proxyStopTimeout = 5 * time.Second
)

func init() { runtime.RegisterRole(proxyRole, runProxy) }

// proxyRecord is proxy.json.
type proxyRecord struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
	// Ports are the bound ports (random ports and ranges resolved); empty
	// until the proxy reported them.
	Ports []engine.PortBinding `json:"ports,omitempty"`
}

type proxyConfig struct {
	Bindings []portproxy.Binding `json:"bindings"`
}

type proxyReady struct {
	Addrs []netip.AddrPort `json:"addrs,omitempty"`
	Error string           `json:"error,omitempty"`
}

type proxyWatch struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
}

// runProxy is the proxy process.
func runProxy() int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().UTC().Format(time.RFC3339)+" "+format+"\n", args...)
	}
	in := bufio.NewReader(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	var cfg proxyConfig
	line, err := in.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &cfg)
	}
	if err != nil {
		_ = out.Encode(proxyReady{Error: "port proxy: read bindings: " + err.Error()})
		return 1
	}
	bound, err := (&portproxy.Proxy{Logf: logf}).Bind(cfg.Bindings)
	if err != nil {
		_ = out.Encode(proxyReady{Error: err.Error()})
		return 1
	}
	if err := out.Encode(proxyReady{Addrs: bound.Addrs()}); err != nil {
		bound.Close()
		return 1
	}
	os.Stdout.Close()
	for i, a := range bound.Addrs() {
		logf("publishing %s/%s -> %s", a, cfg.Bindings[i].Proto, netip.AddrPortFrom(cfg.Bindings[i].TargetIP, cfg.Bindings[i].TargetPort))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	signal.Ignore(syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		line, err := in.ReadBytes('\n')
		var w proxyWatch
		if err != nil || json.Unmarshal(line, &w) != nil || w.Pid <= 0 {
			logf("the container was not started; exiting")
			return
		}
		waitExit(w.Pid, w.StartTime)
		logf("the container (pid %d) exited; exiting", w.Pid)
	}()
	err = bound.Serve(ctx)
	logf("stopped")
	if err != nil {
		return 1
	}
	return 0
}

// waitExit blocks until the process pid, started at start, exits.
func waitExit(pid int, start uint64) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if s, err := procStartTime(pid); err != nil || s != start {
		return
	}
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, -1)
		if n > 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
			return
		}
	}
}

// proxyHandle is a started proxy waiting for its container.
type proxyHandle struct {
	b   *Backend
	dir string
	in  *os.File
}

// startProxy resolves r's ports (ranges to a free port, netplan's clear
// error for a port in use) and starts the proxy forwarding them to target;
// it returns once every port is bound. The caller then commits or aborts.
func (b *Backend) startProxy(ctx context.Context, r *record, target netip.Addr) (*proxyHandle, error) {
	dir := b.stateDir(r.Project, r.ID)
	// A proxy left from an earlier run (its starter died) must go first.
	if err := b.killProxy(ctx, r); err != nil {
		return nil, err
	}
	resolved, err := netplan.Resolve(r.Ports, netplan.CheckOptions{Probe: netplan.HostProbe})
	if err != nil {
		return nil, err
	}
	cfg := proxyConfig{}
	for _, p := range resolved {
		cfg.Bindings = append(cfg.Bindings, portproxy.Binding{HostIP: p.HostIP, HostPort: p.HostPort, Proto: p.Protocol, TargetIP: target, TargetPort: p.ContainerPort})
	}
	line, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	defer outR.Close()
	logFile, err := os.OpenFile(filepath.Join(dir, proxyLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		inR.Close()
		inW.Close()
		outW.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{proxyRole, dir},
		Env:         []string{},
		Dir:         "/",
		Stdin:       inR,
		Stdout:      outW,
		Stderr:      logFile,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	logFile.Close()
	if err != nil {
		inW.Close()
		return nil, fmt.Errorf("start port proxy: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	h := &proxyHandle{b: b, dir: dir, in: inW}
	fail := func(err error) (*proxyHandle, error) {
		h.abort(ctx, r)
		return nil, err
	}
	start, err := procStartTime(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		inW.Close()
		return nil, fmt.Errorf("start port proxy: %w", err)
	}
	rec := proxyRecord{Pid: cmd.Process.Pid, StartTime: start}
	if err := writeJSON(filepath.Join(dir, proxyFile), rec); err != nil {
		_ = cmd.Process.Kill()
		inW.Close()
		return nil, err
	}
	if _, err := inW.Write(append(line, '\n')); err != nil {
		return fail(fmt.Errorf("start port proxy: %w", err))
	}
	_ = outR.SetReadDeadline(time.Now().Add(proxyReadyTimeout))
	reply, err := bufio.NewReader(outR).ReadBytes('\n')
	var ready proxyReady
	if err == nil {
		err = json.Unmarshal(reply, &ready)
	}
	switch {
	case err != nil:
		msg, _ := os.ReadFile(filepath.Join(dir, proxyLogFile))
		return fail(fmt.Errorf("start port proxy: %w %s", err, strings.TrimSpace(string(msg))))
	case ready.Error != "":
		return fail(errors.New(ready.Error))
	case len(ready.Addrs) != len(resolved):
		return fail(fmt.Errorf("start port proxy: %d ports bound for %d bindings", len(ready.Addrs), len(resolved)))
	}
	for i, a := range ready.Addrs {
		rec.Ports = append(rec.Ports, engine.PortBinding{HostIP: a.Addr().String(), HostPort: a.Port(), ContainerPort: resolved[i].ContainerPort, Protocol: resolved[i].Protocol})
	}
	if err := writeJSON(filepath.Join(dir, proxyFile), rec); err != nil {
		return fail(err)
	}
	return h, nil
}

// commit tells the proxy which container init to follow.
func (h *proxyHandle) commit(st runtime.State) error {
	if h == nil {
		return nil
	}
	defer h.in.Close()
	line, _ := json.Marshal(proxyWatch{Pid: st.Pid, StartTime: st.StartTime})
	if _, err := h.in.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("port proxy: %w", err)
	}
	return nil
}

// abort ends a proxy whose container did not start.
func (h *proxyHandle) abort(ctx context.Context, r *record) {
	if h == nil {
		return
	}
	h.in.Close()
	if err := h.b.killProxy(ctx, r); err != nil {
		h.b.logf("container %s: %v", r.Name, err)
	}
}

// killProxy ends the container's proxy, if any, and waits for it to exit
// (so its ports are free), checking first that the recorded pid is still
// the proxy's (start time, command line).
func (b *Backend) killProxy(ctx context.Context, r *record) error {
	dir := b.stateDir(r.Project, r.ID)
	path := filepath.Join(dir, proxyFile)
	var rec proxyRecord
	if err := readJSON(path, &rec); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("port proxy: %w", err)
	}
	if rec.Pid > 0 {
		if err := stopProcess(rec.Pid, rec.StartTime, dir); err != nil {
			return fmt.Errorf("port proxy (pid %d): %w", rec.Pid, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// stopProcess sends SIGTERM to pid if it is still the process started at
// start whose command line names dir, waits for it to exit, and kills it
// after proxyStopTimeout.
func stopProcess(pid int, start uint64, dir string) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil // gone
	}
	defer unix.Close(fd)
	if s, err := procStartTime(pid); err != nil || s != start {
		return nil // gone, and the pid is someone else's
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), dir) {
		return nil // a zombie, or not ours
	}
	for _, step := range []struct {
		sig  unix.Signal
		wait time.Duration
	}{{unix.SIGTERM, proxyStopTimeout}, {unix.SIGKILL, 5 * time.Second}} {
		if err := unix.PidfdSendSignal(fd, step.sig, nil, 0); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil
			}
			return err
		}
		deadline := time.Now().Add(step.wait)
		for time.Now().Before(deadline) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 100)
			if n > 0 {
				return nil
			}
			if err != nil && !errors.Is(err, unix.EINTR) {
				return err
			}
		}
	}
	return errors.New("did not exit after SIGKILL")
}

// publishedPorts are the ports the container's proxy bound.
func (b *Backend) publishedPorts(r *record) []engine.PortBinding {
	var rec proxyRecord
	if err := readJSON(filepath.Join(b.stateDir(r.Project, r.ID), proxyFile), &rec); err != nil {
		return nil
	}
	return rec.Ports
}
