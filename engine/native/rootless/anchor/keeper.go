package anchor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

// keeper is the anchor's hold on the project's supervisor: it starts it
// when asked (the engine's supervisor.Ensure, through the anchor's
// socket) and again when it dies other than by its own shutdown, with
// Docker's restart backoff (100 ms doubling, to 10 s here; reset after
// 10 s up).
type keeper struct {
	netns string
	logf  func(string, ...any)

	mu      sync.Mutex
	pid     int
	dir     string
	project string
	started time.Time
	delay   time.Duration
}

// ensure returns the supervisor's pid, starting it if none runs.
func (k *keeper) ensure(ctx context.Context, project, dir string) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pid != 0 && unix.Kill(k.pid, 0) == nil {
		return k.pid, nil
	}
	return k.startLocked(ctx, project, dir)
}

func (k *keeper) startLocked(ctx context.Context, project, dir string) (int, error) {
	env := []string{supervisor.NetNSEnv + "=" + k.netns}
	if v := os.Getenv(supervisor.DNSUpstreamsEnv); v != "" {
		env = append(env, supervisor.DNSUpstreamsEnv+"="+v)
	}
	cmd, err := supervisor.StartProcess(ctx, project, dir, env)
	if err != nil {
		return 0, err
	}
	// Its exit is reaped by the anchor's loop (exited), not by cmd.Wait.
	k.pid, k.dir, k.project, k.started = cmd.Process.Pid, dir, project, time.Now()
	return k.pid, nil
}

// exited is told of every child the anchor reaped: the supervisor's
// unexpected end is followed by a new one, unless the project is being
// torn down (its supervisor.json gone, which Teardown removes).
func (k *keeper) exited(pid int, ws unix.WaitStatus) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if pid != k.pid || k.pid == 0 {
		return
	}
	k.pid = 0
	if ws.Exited() && ws.ExitStatus() == 0 {
		return // shut down
	}
	if time.Since(k.started) > 10*time.Second {
		k.delay = 0
	}
	k.delay = min(max(2*k.delay, 100*time.Millisecond), 10*time.Second)
	k.logf("supervisor %d of %s ended (%s); starting it again in %s", pid, k.project, waitText(ws), k.delay)
	project, dir := k.project, k.dir
	time.AfterFunc(k.delay, func() { k.restart(project, dir) })
}

// restart starts the supervisor again, under its dir's lock (as
// supervisor.Ensure does), unless the project went meanwhile.
func (k *keeper) restart(project, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	unlock, err := store.LockFile(ctx, filepath.Join(dir, supervisor.LockFile))
	if err != nil {
		k.logf("restart supervisor of %s: %v", project, err)
		return
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, supervisor.InfoFile)); err != nil {
		return // torn down
	}
	if _, ok := supervisor.Running(dir); ok {
		return // one was started meanwhile (supervisor.Ensure)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.pid != 0 {
		return
	}
	if _, err := k.startLocked(ctx, project, dir); err != nil {
		k.logf("restart supervisor of %s: %v", project, err)
	}
}

func waitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}

// serve answers "supervise DIR PROJECT" lines on ln with "ok PID" or
// "error TEXT".
func (k *keeper) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "supervise" {
				fmt.Fprintf(c, "error bad request %q\n", strings.TrimSpace(line))
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pid, err := k.ensure(ctx, f[2], f[1])
			if err != nil {
				fmt.Fprintf(c, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
				return
			}
			fmt.Fprintf(c, "ok %d\n", pid)
		}()
	}
}

// Spawner is a supervisor.SpawnFunc that asks the anchor listening on
// sock to start the supervisor, as its child.
func Spawner(sock string) supervisor.SpawnFunc {
	return func(ctx context.Context, project, dir string) (int, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", sock)
		if err != nil {
			return 0, fmt.Errorf("reach the project's anchor: %w", err)
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		if _, err := fmt.Fprintf(c, "supervise %s %s\n", dir, project); err != nil {
			return 0, err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("the project's anchor: %w", err)
		}
		line = strings.TrimSpace(line)
		if msg, ok := strings.CutPrefix(line, "error "); ok {
			return 0, errors.New(msg)
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(line, "ok "))
		if err != nil {
			return 0, fmt.Errorf("the project's anchor: bad answer %q", line)
		}
		return pid, nil
	}
}
