package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/engine/native/logfile"
	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/clock"
)

// containersDir holds one record per supervised container, for adoption
// and Teardown.
const containersDir = "containers"

// record is containers/<id>.json.
type record struct {
	Config ContainerConfig `json:"config"`
	// Stopped: an explicit Stop ended it; nothing restarts it.
	Stopped      bool `json:"stopped,omitempty"`
	RestartCount int  `json:"restart_count,omitempty"`
}

// starter starts one run of a container (startTask, or a fake in tests).
type starter func(ctx context.Context, cfg *ContainerConfig, log *logfile.Writer) (task, error)

// server is the supervisor's state; its methods are the API.
type server struct {
	dir   string
	clock clock.Clock
	start starter
	logf  func(format string, args ...any)
	// dial, when set, reaches the containers for the port proxy
	// (portproxy.Proxy.Dial): a rootless project's, in its namespace.
	dial func(ctx context.Context, network string, target netip.AddrPort) (net.Conn, error)
	// carrier, for a rootless project, carries outbound TCP and DNS.
	carrier *carrier
	// probe runs a healthcheck command in the container of pid.
	probe func(ctx context.Context, pid int, spec runtime.ExecSpec) (int, error)

	// busy receives a token per request (dropped when one is pending),
	// for trimWhenIdle.
	busy chan struct{}

	mu   sync.Mutex
	ctrs map[string]*ctr
	subs map[chan Event]struct{}
	pubs map[string]*publication
}

// ctr is one supervised container; its fields are guarded by server.mu.
type ctr struct {
	rec   record
	st    ContainerState
	cur   task
	log   *logfile.Writer
	bo    backoff
	wake  chan struct{} // a Stop or Remove interrupts the backoff wait
	done  chan struct{} // closed when the supervision loop ended
	exit  chan struct{} // closed when the current run ended
	ports []string
	// runStart is when the current run started, by the server's clock.
	runStart time.Time
}

func newServer(dir string, c clock.Clock) *server {
	return &server{
		dir: dir, clock: c, start: startTask, probe: runtime.Exec,
		logf: func(string, ...any) {}, busy: make(chan struct{}, 1),
		ctrs: map[string]*ctr{}, subs: map[chan Event]struct{}{}, pubs: map[string]*publication{},
	}
}

func (s *server) emit(e Event) {
	e.Time = s.clock.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emitLocked(e)
}

func (s *server) emitLocked(e Event) {
	if e.Time.IsZero() {
		e.Time = s.clock.Now().UTC()
	}
	for ch := range s.subs {
		select {
		case ch <- e:
		default: // a slow subscriber loses events rather than stalling us
		}
	}
}

func (s *server) subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

func (s *server) recordPath(id string) string {
	return filepath.Join(s.dir, containersDir, id+".json")
}

func (s *server) persist(c *ctr) {
	if s.dir == "" {
		return
	}
	s.mu.Lock()
	rec := c.rec
	s.mu.Unlock()
	path := s.recordPath(rec.Config.ID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		s.logf("supervisor: %v", err)
	}
	if err := store.WriteJSON(path, rec); err != nil {
		s.logf("supervisor: %v", err)
	}
}

// run starts a container and supervises it. It returns once the first
// run started, or its start error.
func (s *server) run(ctx context.Context, cfg ContainerConfig) error {
	if cfg.ID == "" || cfg.StateDir == "" {
		return fmt.Errorf("run: id and state dir are required")
	}
	if s.carrier != nil {
		s.carrier.sync()
	}
	if !filepath.IsAbs(cfg.StateDir) || (cfg.LogDir != "" && !filepath.IsAbs(cfg.LogDir)) {
		return fmt.Errorf("run %s: state and log dirs must be absolute", cfg.ID)
	}
	s.mu.Lock()
	if old := s.ctrs[cfg.ID]; old != nil {
		select {
		case <-old.done:
		default:
			s.mu.Unlock()
			return fmt.Errorf("run %s: %w", cfg.ID, ErrExists)
		}
		if old.log != nil {
			old.log.Close()
		}
	}
	c := &ctr{rec: record{Config: cfg}, st: ContainerState{ID: cfg.ID}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.ctrs[cfg.ID] = c
	s.mu.Unlock()
	fail := func(err error) error {
		s.mu.Lock()
		if s.ctrs[cfg.ID] == c {
			delete(s.ctrs, cfg.ID)
		}
		s.mu.Unlock()
		close(c.done)
		if c.log != nil {
			c.log.Close()
		}
		return err // the caller names the container
	}
	log, err := logfile.NewWriter(cfg.logDir(), cfg.LogMaxSize, cfg.LogMaxFiles, cfg.LogNonBlocking, s.clock)
	if err != nil {
		return fail(err)
	}
	c.log = log
	t, pctx, err := s.startRun(ctx, c)
	if err != nil {
		return fail(err)
	}
	s.persist(c)
	go s.loop(c, t, pctx)
	return nil
}

// bindPorts binds the host side of cfg's ports (nil when none).
func (s *server) bindPorts(cfg *ContainerConfig) (*portproxy.Bound, error) {
	if len(cfg.Ports) == 0 {
		return nil, nil
	}
	return s.proxy().Bind(cfg.Ports)
}

// proxy is the port proxy of the project's published ports: a rootless
// project's containers are reached from its network namespace (dial).
func (s *server) proxy() *portproxy.Proxy {
	return &portproxy.Proxy{Logf: s.logf, Dial: s.dial}
}

// serveBound forwards the bound ports until the returned stop is called,
// which waits for the proxy to close.
func serveBound(bound *portproxy.Bound) (stop context.CancelFunc, ports []string) {
	if bound == nil {
		return func() {}, nil
	}
	for _, a := range bound.Addrs() {
		ports = append(ports, a.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bound.Serve(ctx); close(done) }()
	return func() { cancel(); <-done }, ports
}

// startRun binds the ports, starts the container and serves the ports.
// The returned cancel ends the proxy.
func (s *server) startRun(ctx context.Context, c *ctr) (task, context.CancelFunc, error) {
	cfg := &c.rec.Config
	bound, err := s.bindPorts(cfg)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.start(ctx, cfg, c.log)
	if err != nil {
		if bound != nil {
			bound.Close()
		}
		return nil, nil, err
	}
	cancel, ports := serveBound(bound)
	s.mu.Lock()
	c.ports = ports
	c.cur = t
	c.exit = make(chan struct{})
	c.runStart = s.clock.Now()
	c.st.Status, c.st.Pid, c.st.StartedAt, c.st.Error = StatusRunning, t.Pid(), c.runStart.UTC(), ""
	c.st.FinishedAt = time.Time{}
	c.st.Health = ""
	if cfg.Healthcheck != nil && probeArgs(cfg.Healthcheck.Test) != nil {
		c.st.Health = HealthStarting
	}
	s.emitLocked(Event{Type: EventStarted, ID: cfg.ID, Pid: t.Pid()})
	if c.rec.Stopped {
		// A Stop came while this restart was starting.
		_ = t.Signal(syscall.SIGKILL)
	}
	s.mu.Unlock()
	return t, cancel, nil
}

// loop follows one container through its runs and restarts.
func (s *server) loop(c *ctr, t task, stopProxy context.CancelFunc) {
	defer close(c.done)
	id := c.rec.Config.ID
	for {
		s.mu.Lock()
		startedAt := c.runStart
		s.mu.Unlock()
		hctx, stopHealth := context.WithCancel(context.Background())
		hdone := make(chan struct{})
		go func() { defer close(hdone); s.health(hctx, c, t) }()
		code := t.Wait()
		stopHealth()
		<-hdone
		stopProxy()
		// Readers and clients see the exit only once its output is in
		// the file.
		c.log.Sync()
		now := s.clock.Now()

		s.mu.Lock()
		close(c.exit)
		c.cur, c.ports = nil, nil
		c.st.Pid, c.st.ExitCode, c.st.FinishedAt = 0, code, now.UTC()
		s.emitLocked(Event{Type: EventExited, ID: id, ExitCode: code})
		restart := c.rec.Config.Restart.shouldRestart(code, c.rec.RestartCount, c.rec.Stopped)
		if !restart {
			c.st.Status = StatusExited
			if c.rec.Stopped {
				c.st.Status = StatusStopped
			}
			s.mu.Unlock()
			s.persist(c)
			return
		}
		delay := c.bo.next(now.Sub(startedAt))
		c.rec.RestartCount++
		c.st.RestartCount = c.rec.RestartCount
		c.st.Status = StatusRestarting
		s.emitLocked(Event{Type: EventRestarting, ID: id, Delay: delay, RestartCount: c.rec.RestartCount})
		s.mu.Unlock()
		s.persist(c)

		for {
			select {
			case <-clock.After(s.clock, delay):
			case <-c.wake:
			}
			s.mu.Lock()
			stopped := c.rec.Stopped
			s.mu.Unlock()
			if stopped {
				s.mu.Lock()
				c.st.Status = StatusStopped
				s.mu.Unlock()
				s.persist(c)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			var err error
			t, stopProxy, err = s.startRun(ctx, c)
			cancel()
			if err == nil {
				s.persist(c)
				break
			}
			// A failed start counts as a failed run of no time.
			s.mu.Lock()
			c.st.Error = err.Error()
			s.emitLocked(Event{Type: EventExited, ID: id, ExitCode: -1, Error: err.Error()})
			if !c.rec.Config.Restart.shouldRestart(-1, c.rec.RestartCount, c.rec.Stopped) {
				c.st.Status, c.st.ExitCode = StatusExited, -1
				s.mu.Unlock()
				s.persist(c)
				return
			}
			delay = c.bo.next(0)
			c.rec.RestartCount++
			c.st.RestartCount = c.rec.RestartCount
			s.emitLocked(Event{Type: EventRestarting, ID: id, Delay: delay, RestartCount: c.rec.RestartCount})
			s.mu.Unlock()
		}
	}
}

func (s *server) get(id string) (*ctr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.ctrs[id]
	if c == nil {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return c, nil
}

// stop disables restarts, sends the stop signal, kills after timeout
// (negative: the container's StopGrace) and waits for the loop to end.
func (s *server) stop(ctx context.Context, id string, timeout time.Duration) error {
	c, err := s.get(id)
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	s.mu.Lock()
	c.rec.Stopped = true
	t, exit := c.cur, c.exit
	cfg := c.rec.Config
	s.mu.Unlock()
	s.persist(c)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	if timeout < 0 {
		timeout = cfg.stopGrace()
	}
	if t != nil {
		if timeout > 0 {
			_ = t.Signal(cfg.stopSignal())
			select {
			case <-exit:
			case <-time.After(timeout):
			case <-ctx.Done():
				return fmt.Errorf("stop %s: %w", id, ctx.Err())
			}
		}
		select {
		case <-exit:
		default:
			_ = t.Signal(syscall.SIGKILL)
		}
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", id, ctx.Err())
	}
}

func (s *server) kill(id string, sig syscall.Signal) error {
	c, err := s.get(id)
	if err != nil {
		return fmt.Errorf("kill: %w", err)
	}
	s.mu.Lock()
	t := c.cur
	s.mu.Unlock()
	if t == nil {
		return fmt.Errorf("kill %s: not running", id)
	}
	return t.Signal(sig)
}

// remove stops the container at once if need be and forgets it.
func (s *server) remove(ctx context.Context, id string) error {
	if err := s.stop(ctx, id, 0); err != nil {
		return err
	}
	s.mu.Lock()
	c := s.ctrs[id]
	delete(s.ctrs, id)
	s.emitLocked(Event{Type: EventRemoved, ID: id})
	s.mu.Unlock()
	if c != nil && c.log != nil {
		c.log.Close()
	}
	if s.dir != "" {
		if err := os.Remove(s.recordPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", id, err)
		}
	}
	return nil
}

func (s *server) state(id string) (ContainerState, error) {
	c, err := s.get(id)
	if err != nil {
		return ContainerState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked(c), nil
}

func (s *server) stateLocked(c *ctr) ContainerState {
	st := c.st
	st.Ports = append([]string(nil), c.ports...)
	if c.log != nil {
		st.DroppedLogBytes = c.log.Dropped()
	}
	return st
}

func (s *server) list() []ContainerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ContainerState, 0, len(s.ctrs))
	for _, c := range s.ctrs {
		out = append(out, s.stateLocked(c))
	}
	return out
}

// shutdown stops every container (each with its stop grace) and ends the
// loops; the records stay, with Stopped set. Publications end.
func (s *server) shutdown(ctx context.Context) error {
	s.unpublishAll()
	s.mu.Lock()
	var ids []string
	for id := range s.ctrs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.stop(ctx, id, -1) }()
	}
	wg.Wait()
	s.mu.Lock()
	for _, c := range s.ctrs {
		if c.log != nil {
			defer c.log.Close()
		}
	}
	s.mu.Unlock()
	return errors.Join(errs...)
}

// listen makes the socket, mode 0600 from birth (umask).
func listen(path string) (net.Listener, error) {
	os.Remove(path)
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}
