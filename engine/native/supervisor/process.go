package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/logfile"
	"github.com/hoist-dev/hoist/engine/native/rootnet"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/clock"
	"github.com/hoist-dev/hoist/internal/memtrim"
)

// role is argv[0] of a re-executed supervisor.
const role = "hoist-runtime:supervisor"

// NetNSEnv names, in the supervisor's environment, the network namespace
// of a rootless project's containers, which its published ports are
// dialled in (engine/native/rootnet); the supervisor's own threads stay
// in the host's.
const NetNSEnv = "HOIST_PROJECT_NETNS"

func init() { runtime.RegisterRole(role, runRole) }

// Info is supervisor.json.
type Info struct {
	Pid int `json:"pid"`
	// StartTime is the pid's start time in clock ticks after boot, which
	// tells a reused pid apart.
	StartTime uint64    `json:"start_time"`
	Project   string    `json:"project"`
	StartedAt time.Time `json:"started_at"`
}

func pidSelf() int { return os.Getpid() }

// Ensure returns a client of the project's supervisor in dir (such as
// /run/hoist/<project>), starting one if none answers. Concurrent calls
// (in any process) serialise on dir/lock and end with one supervisor. A
// supervisor recorded in dir that is alive but does not answer is
// killed; a new supervisor adopts the containers of a dead one.
func Ensure(ctx context.Context, project, dir string) (*Client, error) {
	return EnsureWith(ctx, project, dir, nil)
}

// EnsureWith is Ensure with the supervisor started by spawn (nil: as a
// child of this process).
func EnsureWith(ctx context.Context, project, dir string, spawnf SpawnFunc) (*Client, error) {
	if spawnf == nil {
		spawnf = spawn
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("supervisor dir: %w", err)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c := &Client{dir: dir}
	var info Info
	if store.ReadJSON(filepath.Join(dir, InfoFile), &info) == nil && alive(info.Pid, info.StartTime) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pid, err := c.ping(pctx)
		cancel()
		if err == nil {
			c.Pid = pid
			return c, nil
		}
		// Alive but deaf: replace it.
		if err := killWait(ctx, info.Pid, info.StartTime); err != nil {
			return nil, err
		}
	}
	pid, err := spawnf(ctx, project, dir)
	if err != nil {
		return nil, err
	}
	c.Pid = pid
	return c, nil
}

// lockDir takes dir/lock (flock), waiting until ctx ends.
func lockDir(ctx context.Context, dir string) (func(), error) {
	unlock, err := store.LockFile(ctx, filepath.Join(dir, LockFile))
	if err != nil {
		return nil, fmt.Errorf("project lock: %w", err)
	}
	return unlock, nil
}

// killWait SIGKILLs pid if it still is the process started at start, and
// waits for it to go.
func killWait(ctx context.Context, pid int, start uint64) error {
	fd, err := pidfdOf(pid, start)
	if err != nil {
		return nil // gone
	}
	defer fd.Close()
	if err := unix.PidfdSendSignal(int(fd.Fd()), unix.SIGKILL, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil // exited since pidfdOf (a zombie, say): nothing to kill
		}
		return fmt.Errorf("kill process %d: %w", pid, err)
	}
	done := make(chan error, 1)
	go func() { done <- waitPidfd(fd) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SpawnFunc starts the supervisor of project in dir and returns its pid
// once it listens. Ensure's default starts it as a child of this process
// (which the system's init inherits); a rootless project's anchor starts
// it as its own, to start it again if it dies (engine/native/rootless).
type SpawnFunc func(ctx context.Context, project, dir string) (int, error)

// spawn starts the supervisor process and waits until it listens.
func spawn(ctx context.Context, project, dir string) (int, error) {
	cmd, err := StartProcess(ctx, project, dir, nil)
	if err != nil {
		return 0, err
	}
	// While we live, we reap it; afterwards the system's init does.
	go func() { _ = cmd.Wait() }()
	return cmd.Process.Pid, nil
}

// StartProcess starts the supervisor process of project in dir, with env
// (none when nil) and returns once it listens; the caller waits for it.
func StartProcess(ctx context.Context, project, dir string, env []string) (*exec.Cmd, error) {
	logf, err := os.OpenFile(filepath.Join(dir, LogFileSup), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("supervisor log: %w", err)
	}
	defer logf.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	if env == nil {
		env = []string{}
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{role, dir, project},
		Env:         env,
		Dir:         "/",
		Stderr:      logf,
		ExtraFiles:  []*os.File{readyW},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		b, err := io.ReadAll(readyR)
		switch {
		case err != nil:
		case strings.TrimSpace(string(b)) == "ok":
		case len(b) == 0:
			err = fmt.Errorf("supervisor exited during startup (see %s)", filepath.Join(dir, LogFileSup))
		default:
			err = errors.New(strings.TrimSpace(string(b)))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("start supervisor: %w", err)
		}
		return cmd, nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start supervisor: %w", ctx.Err())
	}
}

// runRole is the supervisor process: argv is role, dir, project; fd 3
// is the ready pipe ("ok" or an error, then closed).
func runRole() int {
	ready := os.NewFile(3, "ready")
	fail := func(err error) int {
		fmt.Fprintln(ready, err)
		return 1
	}
	if len(os.Args) < 3 {
		return fail(errors.New("supervisor: usage: dir project"))
	}
	dir, project := os.Args[1], os.Args[2]
	// The supervisor lives as long as the project and is mostly idle: keep
	// its heap small rather than its GC cycles few (its RSS is a figure
	// users compare with dockerd's).
	debug.SetGCPercent(25)
	debug.SetMemoryLimit(12 << 20)
	// Orphaned descendants come to us rather than to the system's init.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	logger := log.New(os.Stderr, "", log.LstdFlags)
	s := newServer(dir, clock.Real())
	s.logf = logger.Printf
	// A rootless project's containers are in a network namespace of
	// their own, which this process's threads are not in (they are in
	// the host's, where the published ports are bound).
	if path := os.Getenv(NetNSEnv); path != "" {
		ns, err := rootnet.Open(path)
		if err != nil {
			return fail(fmt.Errorf("supervisor: project network namespace: %w", err))
		}
		defer ns.Close()
		s.dial = ns.Dial
		s.carrier = &carrier{ns: ns, dir: dir, logf: s.logf}
		s.carrier.sync()
		defer s.carrier.close()
	}
	ln, err := listen(filepath.Join(dir, SocketFile))
	if err != nil {
		return fail(err)
	}
	start, err := procStartTime(os.Getpid())
	if err != nil {
		return fail(err)
	}
	info := Info{Pid: os.Getpid(), StartTime: start, Project: project, StartedAt: time.Now().UTC()}
	if err := store.WriteJSON(filepath.Join(dir, InfoFile), info); err != nil {
		return fail(err)
	}
	s.adoptAll()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	fmt.Fprintln(ready, "ok")
	ready.Close()
	logger.Printf("supervisor %d of project %s ready", os.Getpid(), project)
	go trimWhenIdle(ctx, s.busy, time.Second, logger.Printf)
	s.serve(ctx, ln, cancel)
	if ctx.Err() != nil {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		if err := s.shutdown(sctx); err != nil {
			logger.Printf("shutdown: %v", err)
		}
		scancel()
	}
	os.Remove(filepath.Join(dir, SocketFile))
	os.Remove(filepath.Join(dir, InfoFile))
	logger.Printf("supervisor %d exits", os.Getpid())
	return 0
}

// adoptAll takes over the containers of a dead supervisor: a running
// one is followed through a pidfd; one that died meanwhile and whose
// policy restarts it is started again.
func (s *server) adoptAll() {
	paths, _ := filepath.Glob(filepath.Join(s.dir, containersDir, "*.json"))
	for _, p := range paths {
		var rec record
		if err := store.ReadJSON(p, &rec); err != nil {
			s.logf("adopt %s: %v", p, err)
			continue
		}
		cfg := rec.Config
		c := &ctr{rec: rec, st: ContainerState{ID: cfg.ID, RestartCount: rec.RestartCount, Status: StatusExited},
			wake: make(chan struct{}, 1), done: make(chan struct{})}
		log, err := logfile.NewWriter(cfg.logDir(), cfg.LogMaxSize, cfg.LogMaxFiles, cfg.LogNonBlocking, s.clock)
		if err != nil {
			s.logf("adopt %s: %v", cfg.ID, err)
			continue
		}
		c.log = log
		s.mu.Lock()
		s.ctrs[cfg.ID] = c
		s.mu.Unlock()
		if rec.Stopped {
			c.st.Status = StatusStopped
			close(c.done)
			continue
		}
		t, err := adopt(&cfg, log)
		if err != nil {
			s.logf("adopt %s: %v", cfg.ID, err)
		}
		if t == nil {
			// It ended with nobody watching.
			if !cfg.Restart.shouldRestart(-1, rec.RestartCount, false) {
				c.st.ExitCode = -1
				close(c.done)
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			t, stopProxy, err := s.startRun(ctx, c)
			cancel()
			if err != nil {
				s.logf("adopt %s: restart: %v", cfg.ID, err)
				c.st.Error = err.Error()
				close(c.done)
				continue
			}
			s.persist(c)
			go s.loop(c, t, stopProxy)
			continue
		}
		s.adoptRun(c, t)
	}
	s.adoptPublished()
}

// adoptRun makes an adopted task the current run: it rebinds the ports
// (the old supervisor's proxies died with it) and follows it.
func (s *server) adoptRun(c *ctr, t *adoptedTask) {
	bound, err := s.bindPorts(&c.rec.Config)
	if err != nil {
		s.logf("adopt %s: ports: %v", c.rec.Config.ID, err)
	}
	stopProxy, ports := serveBound(bound)
	s.mu.Lock()
	c.cur, c.exit, c.ports, c.runStart = t, make(chan struct{}), ports, s.clock.Now()
	c.st.Status, c.st.Pid, c.st.Adopted = StatusRunning, t.Pid(), true
	if st, err := runtime.ReadState(c.rec.Config.StateDir); err == nil {
		c.st.StartedAt = st.StartedAt
	}
	if c.rec.Config.Healthcheck != nil && probeArgs(c.rec.Config.Healthcheck.Test) != nil {
		c.st.Health = HealthStarting
	}
	s.mu.Unlock()
	go s.loop(c, t, stopProxy)
}

// trimWhenIdle gives memory back (internal/memtrim) each time the
// supervisor has had no request for quiet, and once after startup:
// starting containers touches much of the binary (the embedded init
// image among it) that the steady state never reads again.
func trimWhenIdle(ctx context.Context, busy <-chan struct{}, quiet time.Duration, logf func(string, ...any)) {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-busy:
			t.Reset(quiet)
		case <-t.C:
			if err := memtrim.Trim(); err != nil {
				logf("%v", err)
			}
		}
	}
}
