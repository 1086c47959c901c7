// Package buildnet gives each native build a network of its own: the
// builder's build.Network (engine/native/build) on engine/native/network.
//
// Each build that runs a RUN step gets a bridge of its own with outbound
// NAT, as a project of the network manager named build.<pid>.<hex> (a
// compose project name has no '.', so it never meets one): its nftables
// table, links and iptables rules carry that name, and its records live
// in <RunDir>/build.<pid>.<hex>/. Each RUN step is a container of that
// project: Attach gives it a namespace and a veth, Release takes them
// away, and the build's end tears the whole project down.
//
// A bridge per build, not one shared by every build: nothing of a
// build's outlives it (Docker's docker0 does, but hoist has no daemon to
// own one), concurrent builds are isolated from each other by the
// manager's rules between networks, and a build that only hits the
// cache makes none. The price is the bridge's setup and teardown once
// per build that runs a RUN step.
//
// The process that made a build's network holds an flock on its
// owner.lock until the network is gone. A build killed outright (SIGKILL,
// a crash) leaves the lock free, and the next build of any hoist process
// tears that network down before making its own.
package buildnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/build"
	"github.com/hoist-dev/hoist/engine/native/etcfiles"
	"github.com/hoist-dev/hoist/engine/native/network"
	"github.com/hoist-dev/hoist/internal/atomicfile"
	"github.com/hoist-dev/hoist/internal/procfs"
)

// Networks opens the builds' networks: Manager's projects, in RunDir
// (the native engine's). Logf hears about dead builds' networks swept.
type Networks struct {
	Manager *network.Manager
	RunDir  string
	Logf    func(string, ...any)
}

var _ build.Network = Networks{}

const (
	projectPrefix = "build."
	// OwnerLock is the file in a build network's dir its owner holds
	// locked.
	OwnerLock = "owner.lock"
)

func (n Networks) Open(ctx context.Context) (build.BuildNetwork, error) {
	n.sweep(ctx)
	project := fmt.Sprintf("%s%d.%s", projectPrefix, os.Getpid(), randomHex(3))
	dir := filepath.Join(n.RunDir, project)
	lock, err := lockOwner(dir)
	if err != nil {
		return nil, fmt.Errorf("build network: %w", err)
	}
	s := &Session{m: n.Manager, project: project, dir: dir, lock: lock}
	if _, err := n.Manager.EnsureNetwork(ctx, network.NetSpec{Name: project, Project: project}); err != nil {
		return nil, errors.Join(fmt.Errorf("build network: %w", err), s.Close(ctx))
	}
	// The host's resolver settings, without the loopback nameservers a
	// namespace of its own cannot reach (as for containers, etcfiles).
	host, err := etcfiles.HostResolvConf()
	if err != nil {
		s.warning = err.Error()
	}
	var dropped []string
	s.resolv, dropped = etcfiles.ResolvConf(host, etcfiles.DNS{})
	if len(dropped) > 0 && !bytes.Contains(s.resolv, []byte("nameserver ")) {
		s.warning = fmt.Sprintf("the host's resolv.conf lists only loopback nameservers (%s), which RUN steps cannot reach: names do not resolve in them", strings.Join(dropped, ", "))
	}
	return s, nil
}

// sweep tears down the networks of builds whose process died without
// doing so; the owner of each live one holds its lock.
func (n Networks) sweep(ctx context.Context) {
	dirs, _ := filepath.Glob(filepath.Join(n.RunDir, projectPrefix+"*"))
	for _, dir := range dirs {
		project := filepath.Base(dir)
		f, err := os.OpenFile(filepath.Join(dir, OwnerLock), os.O_RDWR|unix.O_CLOEXEC, 0)
		if errors.Is(err, fs.ErrNotExist) {
			// Made a moment ago and not locked yet, or its process died
			// in that moment (then it holds nothing but the directory):
			// the process its name holds says which, when it is gone;
			// else (a pid reused meanwhile) a minute does.
			if fi, err := os.Stat(dir); err == nil && (!builderLives(project) || time.Since(fi.ModTime()) > time.Minute) {
				n.remove(ctx, project, dir)
			}
			continue
		}
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			n.Logf("build network %s: its build is gone; removing it", project)
			n.remove(ctx, project, dir)
		}
		f.Close()
	}
}

// builderLives reports whether the process whose pid a build network's
// name holds (Open names it build.<pid>.<random>) may still run: false
// only when that pid has ended (no such process, or its zombie).
func builderLives(project string) bool {
	f := strings.Split(strings.TrimPrefix(project, projectPrefix), ".")
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return true
	}
	return !procfs.Exited(pid)
}

func (n Networks) remove(ctx context.Context, project, dir string) {
	if err := n.Manager.Teardown(context.WithoutCancel(ctx), project); err != nil {
		n.Logf("build network %s: %v", project, err)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		n.Logf("build network %s: %v", project, err)
	}
}

// lockOwner makes dir and its owner.lock, locked by the returned file:
// the lock is taken on a file of another name, then renamed into place,
// so that sweep never finds an owner.lock that is free while its build
// lives.
func lockOwner(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, OwnerLock+".new")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, OwnerLock)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Session is one build's network.
type Session struct {
	m       *network.Manager
	project string
	dir     string
	lock    *os.File
	resolv  []byte
	warning string
	// releases are the steps' Releases still running.
	releases sync.WaitGroup
}

// Project is the network manager's project of the build's network.
func (s *Session) Project() string { return s.project }

// Dir is its run dir.
func (s *Session) Dir() string { return s.dir }

// Abandon lets the network go without tearing it down, as a build killed
// outright does: the next Open of any process sweeps it.
func (s *Session) Abandon() { s.lock.Close() }

func (s *Session) resolvPath(id string) string {
	return filepath.Join(s.dir, "resolv", id)
}

func (s *Session) Attach(ctx context.Context, id string) (build.StepNetwork, error) {
	hostname, _ := os.Hostname() // the step's, its UTS namespace a copy of the host's
	att, err := s.m.Attach(ctx, network.AttachSpec{
		Project: s.project, Container: id, Hostname: hostname,
		Networks: []network.NetworkAttachment{{Name: s.project}},
	})
	if err != nil {
		return build.StepNetwork{}, err
	}
	// A file of the step's own: what one step writes there is not the
	// next one's.
	resolv := s.resolvPath(id)
	if err := os.MkdirAll(filepath.Dir(resolv), 0o700); err != nil {
		return build.StepNetwork{}, err
	}
	if err := atomicfile.Replace(resolv, s.resolv, 0o644); err != nil {
		return build.StepNetwork{}, err
	}
	return build.StepNetwork{Netns: att.NetnsPath, Hosts: att.HostsFile, ResolvConf: resolv, Warning: s.warning}, nil
}

// Release runs in the background: deleting a veth waits for the kernel,
// and the next step need not.
func (s *Session) Release(ctx context.Context, id string) {
	s.releases.Add(1)
	go func() {
		defer s.releases.Done()
		// An error leaves the step's record, which Close's Teardown
		// follows.
		if s.m.Release(context.WithoutCancel(ctx), s.project, id) == nil {
			os.Remove(s.resolvPath(id))
		}
	}()
}

// Close tears the network down while the last steps' Releases finish:
// both mostly wait for the kernel to delete links, and these waits
// overlap. Teardown takes whatever a Release has not forgotten yet, and a
// link both delete is gone for either.
func (s *Session) Close(ctx context.Context) error {
	defer s.lock.Close()
	err := s.m.Teardown(context.WithoutCancel(ctx), s.project)
	// A Release that comes after may make the project's lock file again:
	// the directory goes once they are all done.
	s.releases.Wait()
	if err != nil {
		return err
	}
	return os.RemoveAll(s.dir)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
