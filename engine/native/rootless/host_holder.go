package rootless

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/procfs"
)

// Options say which holder to start.
type Options struct {
	Mapping Mapping
	// Project: the project's anchor, which outlives this process;
	// empty: a holder for this command only.
	Project string
	// RunDir is the rootless run dir (Dirs.RunDir).
	RunDir string
	// KeepID: the holder keeps the user's ids (userns_mode keep-id;
	// Mapping stays the plain one, which the holder's outer namespace
	// gets; see anchor_keepid.go). An anchor records it, so that a
	// project's mapping does not change under containers made with the
	// other one.
	KeepID bool
}

// Holder is a process holding a user, mount and network namespace.
type Holder struct {
	// Pid is the holder's; NetTID the thread of it that is in the
	// project's network namespace.
	Pid    int `json:"pid"`
	NetTID int `json:"net_tid"`
	// StartTime tells a reused pid apart (procfs.StartTime).
	StartTime uint64 `json:"start_time"`
	// Project is the anchor's; empty for a holder of one command.
	Project string `json:"project,omitempty"`
	// KeepID: the anchor maps the user's ids to themselves (keep-id).
	KeepID bool `json:"keep_id,omitempty"`
	// keep, for a holder of this command, is the pipe whose end ends it.
	keep *os.File
}

// NetNS is the path of the project's network namespace, as seen from
// the host's mount namespace.
func (h *Holder) NetNS() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", h.Pid, h.NetTID)
}

// Alive reports whether the holder still runs (by pid and start time).
func (h *Holder) Alive() bool {
	st, err := procfs.StartTime(h.Pid)
	// An anchor this process started and stopped is its zombie until
	// reaped: it has ended all the same.
	return err == nil && st == h.StartTime && unix.Kill(h.Pid, 0) == nil && !procfs.Exited(h.Pid)
}

// Release ends a holder of this command (closing its pipe); an anchor
// is left to run.
func (h *Holder) Release() {
	if h.keep != nil {
		h.keep.Close()
	}
}

// AnchorFile is where a project's anchor is recorded: beside the
// projects' run dirs, not in one, since the project's teardown removes
// its dir before the anchor ends.
func AnchorFile(runDir, project string) string {
	return filepath.Join(runDir, "anchors", project+".json")
}

// Ensure returns the project's running anchor, starting one if none
// runs; concurrent calls end with one. Without a project it starts a
// holder for this command.
func Ensure(ctx context.Context, o Options) (*Holder, error) {
	if o.Project == "" {
		return start(ctx, o)
	}
	file := AnchorFile(o.RunDir, o.Project)
	unlock, err := store.LockFile(ctx, file+".lock")
	if err != nil {
		return nil, fmt.Errorf("project %s: anchor: %w", o.Project, err)
	}
	defer unlock()
	var h Holder
	if store.ReadJSON(file, &h) == nil && h.Alive() {
		if h.KeepID != o.KeepID {
			return nil, fmt.Errorf("project %s: its containers run with %s, and the project now asks for %s: one user namespace holds a project, so run hoist down first", o.Project, keepIDName(h.KeepID), keepIDName(o.KeepID))
		}
		return &h, nil
	}
	nh, err := start(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("project %s: anchor: %w", o.Project, err)
	}
	if err := store.WriteJSON(file, nh); err != nil {
		_ = unix.Kill(nh.Pid, unix.SIGKILL)
		return nil, fmt.Errorf("project %s: anchor: %w", o.Project, err)
	}
	return nh, nil
}

// Find returns the project's anchor if it runs.
func Find(runDir, project string) (*Holder, bool) {
	var h Holder
	if store.ReadJSON(AnchorFile(runDir, project), &h) != nil || !h.Alive() {
		return nil, false
	}
	return &h, true
}

// Stop ends the project's anchor, and with it its network namespace,
// and forgets it.
func Stop(ctx context.Context, runDir, project string) error {
	file := AnchorFile(runDir, project)
	unlock, err := store.LockFile(ctx, file+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if h, ok := Find(runDir, project); ok {
		h.end(10 * time.Second)
	}
	_ = os.Remove(file)
	_ = os.Remove(file + ".lock")
	_ = os.Remove(strings.TrimSuffix(file, ".json") + ".log")
	return nil
}

// end asks the holder to end (SIGTERM), waits up to grace until it has,
// and kills it if it has not. The wait is on a pidfd, which is readable
// once the process has ended, reaped or not: a 5 ms poll of /proc was
// the tail of every down and run --rm.
func (h *Holder) end(grace time.Duration) {
	fd, err := unix.PidfdOpen(h.Pid, 0)
	if err != nil {
		return // gone
	}
	defer unix.Close(fd)
	// Checked after opening: the pidfd pins the process, so a match now
	// cannot be a reused pid later.
	if !h.Alive() {
		return
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0); err != nil {
		return // ended meanwhile
	}
	if !pidfdExited(fd, grace) {
		_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
}

// pidfdExited waits up to d for the process of the pidfd fd to end.
func pidfdExited(fd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		switch {
		case n > 0:
			return true
		case err != nil && !errors.Is(err, unix.EINTR):
			return false
		}
	}
}

// start runs a holder and waits until it is mapped and ready.
func start(ctx context.Context, o Options) (*Holder, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	hc := HolderConfig{Project: o.Project, RunDir: o.RunDir, Exe: exe}
	if o.KeepID {
		hc.KeepUID, hc.KeepGID = os.Getuid(), os.Getgid()
	}
	cmd := &exec.Cmd{SysProcAttr: &syscall.SysProcAttr{
		// An anchor outlives this process and its terminal.
		Setsid: o.Project != "",
	}}
	if o.Project != "" {
		if err := os.MkdirAll(filepath.Dir(AnchorFile(o.RunDir, o.Project)), 0o700); err != nil {
			return nil, err
		}
		logf, err := os.OpenFile(filepath.Join(filepath.Dir(AnchorFile(o.RunDir, o.Project)), o.Project+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
	} else {
		cmd.Stderr = os.Stderr
	}
	goW, readyR, err := launch(ctx, o.Mapping, hc, cmd)
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	fail := func(err error) (*Holder, error) {
		goW.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	line, err := bufio.NewReader(readyR).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fail(err)
	}
	tid, ok := strings.CutPrefix(strings.TrimSpace(line), "ok ")
	if !ok {
		return fail(fmt.Errorf("user namespace: %s", strings.TrimSpace(line)))
	}
	h := &Holder{Pid: cmd.Process.Pid, Project: o.Project, KeepID: o.KeepID}
	// "ok <tid> <pid>": the pid is the holder's own, which is not the
	// process started here when a keep-id namespace nests in it.
	tid, pid, _ := strings.Cut(tid, " ")
	if pid != "" {
		if h.Pid, err = strconv.Atoi(pid); err != nil {
			return fail(fmt.Errorf("user namespace: bad ready line %q", line))
		}
	}
	if h.NetTID, err = strconv.Atoi(tid); err != nil {
		return fail(fmt.Errorf("user namespace: bad ready line %q", line))
	}
	if h.StartTime, err = procfs.StartTime(h.Pid); err != nil {
		return fail(err)
	}
	if o.Project != "" {
		// The anchor is its own now; its exit is reaped by whoever
		// inherits it.
		goW.Close()
		_ = cmd.Process.Release()
	} else {
		h.keep = goW
		go func() { _ = cmd.Wait() }()
	}
	return h, nil
}

// launch starts cmd as hoist in RoleUserns (with hc) in a new user and
// mount namespace, maps its ids with m and lets it go on to its next
// role. goW is the pipe the role reads (fd 3), readyR the one it writes
// (fd 4); on error nothing is left running.
func launch(ctx context.Context, m Mapping, hc HolderConfig, cmd *exec.Cmd) (goW, readyR *os.File, err error) {
	cfg, err := json.Marshal(hc)
	if err != nil {
		return nil, nil, err
	}
	goR, goW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		goR.Close()
		goW.Close()
		return nil, nil, err
	}
	cmd.Path = "/proc/self/exe"
	cmd.Args = []string{RoleUserns, string(cfg)}
	cmd.ExtraFiles = []*os.File{goR, readyW}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS
	err = cmd.Start()
	goR.Close()
	readyW.Close()
	if err != nil {
		goW.Close()
		readyR.Close()
		return nil, nil, fmt.Errorf("start user namespace: %w", err)
	}
	if err = writeMaps(ctx, cmd.Process.Pid, m); err == nil {
		_, err = goW.Write([]byte{'g'})
	}
	if err != nil {
		goW.Close()
		readyR.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, nil, fmt.Errorf("user namespace: %w", err)
	}
	return goW, readyR, nil
}

// RunIn starts hoist as role (HolderConfig.Next, given arg) in a user
// and mount namespace of its own, mapped with m, as its root: a command
// that needs nothing of a holder's (the fast path of run --rm,
// cmd/hoist/fastrun). cmd has the stdio and environment the caller
// wants; the caller waits for it. It returns once the child is mapped,
// with ready, the role's fd 4: RunUserns's error if it could not execute
// role, else what role writes there before it closes it.
func RunIn(ctx context.Context, m Mapping, role, arg string, cmd *exec.Cmd) (ready *os.File, err error) {
	goW, readyR, err := launch(ctx, m, HolderConfig{Next: role, Arg: arg}, cmd)
	if err != nil {
		return nil, err
	}
	goW.Close()
	return readyR, nil
}

// writeMaps maps the holder's ids: with newuidmap and newgidmap (setuid
// root, which check the user's ranges) when installed, else, for a
// single id, by writing the maps, which the kernel lets the user do for
// its own ids once setgroups is denied.
func writeMaps(ctx context.Context, pid int, m Mapping) error {
	nu, errU := exec.LookPath("newuidmap")
	ng, errG := exec.LookPath("newgidmap")
	if errU != nil || errG != nil {
		if !m.Single {
			return errors.New("newuidmap and newgidmap are needed to map the subordinate ids (Debian: apt-get install uidmap)")
		}
		proc := "/proc/" + strconv.Itoa(pid)
		if err := os.WriteFile(proc+"/uid_map", []byte(text(m.UIDs)), 0); err != nil {
			return fmt.Errorf("write uid_map: %w", err)
		}
		if err := os.WriteFile(proc+"/setgroups", []byte("deny"), 0); err != nil {
			return fmt.Errorf("write setgroups: %w", err)
		}
		if err := os.WriteFile(proc+"/gid_map", []byte(text(m.GIDs)), 0); err != nil {
			return fmt.Errorf("write gid_map: %w", err)
		}
		return nil
	}
	// The two maps are files of their own: written at once, each tool's
	// start (a setuid exec) is waited for once, not twice.
	tools := []struct {
		tool string
		rs   []IDRange
	}{{nu, m.UIDs}, {ng, m.GIDs}}
	errs := make([]error, len(tools))
	var wg sync.WaitGroup
	for i, c := range tools {
		wg.Go(func() {
			out, err := exec.CommandContext(ctx, c.tool, append([]string{strconv.Itoa(pid)}, args(c.rs)...)...).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("%s: %v: %s", filepath.Base(c.tool), err, strings.TrimSpace(string(out)))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Command is hoist (exe) with args run in the holder's namespaces, as
// their root, in dir, through nsenter.
func (h *Holder) Command(exe, dir string, args []string) *exec.Cmd {
	nsargs := []string{"--target", strconv.Itoa(h.Pid), "--user", "--mount", "--net=" + h.NetNS()}
	// The user's ids are the namespace's root already: keeping them
	// needs no setgroups, which a single-id map denies. Under keep-id
	// they are the user's own numbers, not root: nsenter becomes root
	// (setns gave it the capabilities to), and setgroups is allowed
	// there (keep-id needs a range, so newgidmap mapped it).
	if !h.KeepID {
		nsargs = append(nsargs, "--preserve-credentials")
	}
	nsargs = append(nsargs, "--wd="+dir, "--", exe)
	return exec.Command("nsenter", append(nsargs, args...)...)
}

func keepIDName(keep bool) string {
	if keep {
		return "userns_mode keep-id (your ids are the same inside)"
	}
	return "the plain mapping (their root is you)"
}
