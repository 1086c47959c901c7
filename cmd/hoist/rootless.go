package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/engine/native/rootless"
	"github.com/hoist-dev/hoist/engine/native/rootnet"
	"github.com/hoist-dev/hoist/internal/runcache"
	"github.com/hoist-dev/hoist/internal/userns"
)

// Commands and the rootless anchor: these make the project's anchor when
// none runs (they create containers or networks that must outlive the
// command); the others use it when it runs and a holder of their own
// otherwise. noProject commands never need one.
var (
	anchorCommands    = map[string]bool{"up": true, "create": true, "run": true, "start": true, "restart": true, "watch": true}
	noProjectCommands = map[string]bool{"version": true, "ls": true, "image": true, "images": true, "pull": true, "push": true, "build": true, "system": true}
)

// rootlessWanted reports whether the native engine must run rootless:
// not root, on the host's user namespace (inside it, hoist is the
// namespace's root and runs the engine as root does).
func rootlessWanted() bool { return os.Geteuid() != 0 && !userns.Inside() }

// runRootless runs this command line again in the user namespace of the
// project's anchor (or of a holder of its own), as root there, with the
// rootless store, and returns its exit status as an exitCode.
func (a *app) runRootless(ctx context.Context) error {
	uid, gid := os.Getuid(), os.Getgid()
	name := rootless.UserName(uid)
	m, err := rootless.Lookup(name, uid, gid)
	if err != nil {
		return fmt.Errorf("rootless: %w", err)
	}
	if m.Single {
		fmt.Fprintf(a.stderr, "WARN "+rootless.SingleWarning+"\n", name, name)
	}
	dirs, err := rootless.DirsFor(a.getenv, uid)
	if err != nil {
		return err
	}
	var project string
	var keepP *types.Project
	if !noProjectCommands[a.command] {
		// The command loaded its project already, as a rule: loading it
		// again here costs every rootless command a few ms.
		p := a.loaded
		if p != nil {
			project = p.Name
		} else if project, p, err = a.projectName(ctx); err != nil {
			return err
		}
		keepP = p
		if anchorCommands[a.command] && p != nil {
			if err := checkHostPorts(p); err != nil {
				return err
			}
		}
	}
	o := rootless.Options{Mapping: m, RunDir: dirs.RunDir}
	if keep := keepIDServices(keepP); len(keep) > 0 {
		// The project's one user namespace (its anchor's, which all its
		// containers share) keeps the user's ids when a service asks:
		// the mapping is per project, not per service. m.KeepID checks
		// that it can (a range that holds the ids) before anything runs.
		if _, err := m.KeepID(uid, gid); err != nil {
			return fmt.Errorf("services.%s.userns_mode: %w", keep[0], err)
		}
		o.KeepID = true
	}
	var h *rootless.Holder
	switch {
	case project == "":
	case anchorCommands[a.command]:
		o.Project = project
	default:
		h, _ = rootless.Find(dirs.RunDir, project)
	}
	if h == nil {
		if h, err = rootless.Ensure(ctx, o); err != nil {
			return fmt.Errorf("rootless: %w", err)
		}
	}
	defer h.Release()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	cmd := h.Command(exe, wd, a.args)
	if a.command == "exec" {
		// exec stays in the host's network namespace: a container on
		// the host's network (network_mode host) is in it, and no
		// setns leads back there from the project's; a container's own
		// namespace belongs to the project's user namespace and is
		// joined from anywhere in it.
		cmd.Args = slices.DeleteFunc(cmd.Args, func(s string) bool { return strings.HasPrefix(s, "--net=") })
	}
	cmd.Env = append(withoutEnv(a.environ, "HOIST_ROOT", "HOIST_RUN_DIR", rootless.AnchorEnv, rootless.HolderEnv, runcache.KeyEnv),
		"HOIST_ROOT="+dirs.Root, "HOIST_RUN_DIR="+dirs.RunDir, rootless.HolderEnv+"="+strconv.Itoa(h.Pid))
	if h.Project != "" {
		cmd.Env = append(cmd.Env, rootless.AnchorEnv+"="+rootless.SocketFile(dirs.RunDir, h.Project))
	}
	if a.command == "run" && !o.KeepID {
		// The key of this command line as the user gave it, which the
		// fast path (cmd/hoist/fastrun) computes before main: the hoist
		// in the holder remembers a run it could replay under it. A
		// keep-id run is not replayed (its namespace nests another).
		if key, err := runcache.Key(a.args, wd, a.environ, "/proc/self/exe"); err == nil {
			cmd.Env = append(cmd.Env, runcache.KeyEnv+"="+key)
		}
	}
	// nsenter's --wd is a directory of the host's mount namespace, which
	// getcwd cannot name from the holder's: the command changes to it
	// again by name (main), and PWD names it until then.
	cmd.Env = append(withoutEnv(cmd.Env, "PWD"), "PWD="+wd, rootless.WorkDirEnv+"="+wd)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	// The terminal's interrupt reaches the command too, which stops as
	// it does as root; this process only waits for it.
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	case err != nil:
		return fmt.Errorf("rootless: %w", err)
	}
	// An anchor with no project left to hold (down, or an up that failed
	// before it made anything) ends.
	if h.Project != "" {
		if _, err := os.Stat(filepath.Join(dirs.RunDir, project)); errors.Is(err, os.ErrNotExist) {
			if err := rootless.Stop(ctx, dirs.RunDir, project); err != nil {
				return fmt.Errorf("rootless: stop the project's anchor: %w", err)
			}
		}
	}
	return exitCode(code)
}

// withoutEnv is env without the variables named.
func withoutEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// checkHostPorts refuses, before anything is made, a published port the
// user may not bind: here, in the host's network namespace, where
// net.ipv4.ip_unprivileged_port_start is the host's.
func checkHostPorts(p *types.Project) error {
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, port := range p.Services[name].Ports {
			lo, _, _ := strings.Cut(port.Published, "-")
			if lo == "" {
				continue
			}
			n, err := strconv.ParseUint(lo, 10, 16)
			if err != nil {
				continue // the loader's to refuse
			}
			if err := rootnet.CheckHostPort(uint16(n)); err != nil {
				return fmt.Errorf("service %s: %w", name, err)
			}
		}
	}
	return nil
}

// engineChoice says which engine the flags select here, and why when
// auto could not take the native one, without opening docker's.
func (a *app) engineChoice(ctx context.Context) string {
	name := a.engineName
	switch name {
	case "docker":
		return "docker"
	case "native":
		if rootlessWanted() {
			return "native-rootless"
		}
		return "native"
	case "", "auto":
	default:
		return name + " (unknown: use docker, native or auto)"
	}
	if goruntime.GOOS != "linux" {
		return "docker (auto: the native engine runs on Linux only)"
	}
	if !rootlessWanted() {
		b, err := a.nativeBackend(ctx)
		if err != nil {
			return fmt.Sprintf("docker (auto: %v)", err)
		}
		b.Close()
		if userns.Inside() {
			return "native-rootless (auto)"
		}
		return "native (auto: root)"
	}
	if err := rootless.Check(); err != nil {
		return fmt.Sprintf("docker (auto: %v; hoist doctor says more)", err)
	}
	return "native-rootless (auto: not root; hoist doctor checks what it needs)"
}

// keepIDServices names the services of p (nil: none) with userns_mode
// keep-id, sorted.
func keepIDServices(p *types.Project) []string {
	if p == nil {
		return nil
	}
	var out []string
	for name, s := range p.Services {
		if s.UserNSMode == "keep-id" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
