package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/stdio"
)

// childEnv, set, makes the test binary run a test's other half (which
// needs a process of its own) instead of the test.
const childEnv = "HOIST_RUNTIME_TEST_CHILD"

// childCmd is the test binary re-executed to run t's other half with arg.
func childCmd(t *testing.T, arg string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+arg)
	return cmd
}

// openPty returns a new pty's master and slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	_ = rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ierr == nil {
			n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if ierr != nil {
		t.Fatal(ierr)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// A container started with the caller's terminal as stdin, stdout and
// stderr (hoist's, in `hoist run -T` or `exec -T` in a shell) gets none
// of it: its fds 0 to 2 are pipes, TIOCSTI on them fails with ENOTTY, and
// it is in a session of its own with no controlling terminal, so
// /dev/tty does not open (ENXIO); nothing lands in the terminal's input.
// Checked for a container's command, for one under Spec.Init, and for an
// exec. The half that starts them runs in a process of its own whose
// controlling terminal is the pty, as hoist's is the user's.
func TestNoTerminalReachesContainer(t *testing.T) {
	if rootfs := os.Getenv(childEnv); rootfs != "" {
		containersOnTerminal(t, rootfs)
		return
	}
	needRoot(t)
	rootfs := newRootfs(t)
	addProbe(t, rootfs)
	master, slave := openPty(t)
	cmd := childCmd(t, rootfs)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	var out syncBuffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, master)
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	// What TIOCSTI typed waits in the terminal's input queue.
	queued, qerr := unix.IoctlGetInt(int(slave.Fd()), unix.TIOCINQ)
	slave.Close()
	_ = master.SetReadDeadline(time.Now().Add(5 * time.Second))
	<-copied
	got := strings.ReplaceAll(out.String(), "\r", "")
	if err != nil {
		t.Fatalf("the half on the terminal: %v\n%s", err, got)
	}
	if qerr != nil || queued != 0 {
		t.Errorf("%d bytes typed into the terminal's input (%v)", queued, qerr)
	}
	if strings.Contains(got, "#injected") {
		t.Error("the terminal echoed what a container typed into it")
	}
	for _, name := range []string{"run", "init", "exec"} {
		_, section, ok := strings.Cut(got, "== "+name+"\n")
		if !ok {
			t.Errorf("%s: no output in %q", name, got)
			continue
		}
		section, _, _ = strings.Cut(section, "== ")
		for _, want := range []string{
			"fd0 pipe:[", "fd1 pipe:[", "fd2 pipe:[",
			"tiocsti0 ENOTTY\n", "tiocsti1 ENOTTY\n", "tiocsti2 ENOTTY\n",
			"devtty ENXIO\n", "ctty 0\n",
		} {
			if !strings.Contains(section, want) {
				t.Errorf("%s: no %q in\n%s", name, want, section)
			}
		}
	}
}

// containersOnTerminal is TestNoTerminalReachesContainer's half on the
// terminal: it runs the probe in containers with its own stdin, stdout
// and stderr.
func containersOnTerminal(t *testing.T, rootfs string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(name string, spec Spec) *Process {
		fmt.Printf("== %s\n", name)
		spec.ID, spec.Rootfs = testID(t)+"-"+name, rootfs
		spec.Stdin, spec.Stdout, spec.Stderr = os.Stdin, os.Stdout, os.Stderr
		p, err := Start(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, name := range []string{"run", "init"} {
		p := run(name, Spec{Args: []string{"/probe", "stdio"}, Init: name == "init"})
		if _, err := p.Wait(); err != nil {
			t.Error(err)
		}
		_ = p.Cleanup()
	}
	p := run("sleeper", Spec{Args: []string{"sleep", "1000"}})
	defer func() {
		_ = p.Cleanup()
		_, _ = p.Wait()
	}()
	fmt.Printf("== exec\n")
	if _, err := Exec(ctx, p.Pid(), ExecSpec{Args: []string{"/probe", "stdio"}, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}); err != nil {
		t.Error(err)
	}
}

// startSleeper starts a container that sleeps, for execs, until the test
// ends.
func startSleeper(t *testing.T, rootfs string) *Process {
	t.Helper()
	p, err := Start(context.Background(), Spec{ID: testID(t), Rootfs: rootfs, Args: []string{"sleep", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Cleanup()
		_, _ = p.Wait()
	})
	return p
}

// A regular file given as stdin reaches the container as a stream of its
// bytes: the container cannot reopen it through /proc/self/fd/0 and
// write to the file.
func TestStdinFileStaysUnchanged(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	sleeper := startSleeper(t, rootfs)
	path := filepath.Join(t.TempDir(), "input")
	const content = "the host's file\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `readlink /proc/$$/fd/0; echo changed > /proc/$$/fd/0; cat`
	for _, how := range []string{"run", "exec"} {
		t.Run(how, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var out, errOut bytes.Buffer
			if how == "run" {
				p, err := Start(context.Background(), Spec{ID: testID(t), Rootfs: rootfs, Args: []string{"sh", "-c", script}, Stdin: f, Stdout: &out, Stderr: &errOut})
				if err != nil {
					t.Fatal(err)
				}
				_, err = p.Wait()
				_ = p.Cleanup()
				if err != nil {
					t.Fatal(err)
				}
			} else if _, err := Exec(context.Background(), sleeper.Pid(), ExecSpec{Args: []string{"sh", "-c", script}, Stdin: f, Stdout: &out, Stderr: &errOut}); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != content {
				t.Errorf("the file is now %q (%v); the container saw %q %q", b, err, out.String(), errOut.String())
			}
			if !strings.HasPrefix(out.String(), "pipe:[") || !strings.Contains(out.String(), content) {
				t.Errorf("output %q, stderr %q: want the pipe's name and the file's bytes", out.String(), errOut.String())
			}
		})
	}
}

// slowWriter takes its time over each write, as a slow reader of hoist's
// output makes hoist's writes wait.
type slowWriter struct {
	syncBuffer
	delay time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	return w.syncBuffer.Write(p)
}

// All of a command's output reaches a writer that is slower than the
// command: more than a pipe holds is still to be written when the command
// exits, and it is all delivered, from a container's command and from an
// exec.
func TestSlowReaderGetsAllOutput(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	sleeper := startSleeper(t, rootfs)
	var want strings.Builder
	for i := 1; i <= 30000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	args := []string{"seq", "1", "30000"}
	for _, how := range []string{"run", "exec"} {
		t.Run(how, func(t *testing.T) {
			out := &slowWriter{delay: 250 * time.Millisecond}
			var errOut bytes.Buffer
			if how == "run" {
				p, err := Start(context.Background(), Spec{ID: testID(t), Rootfs: rootfs, Args: args, Stdout: out, Stderr: &errOut})
				if err != nil {
					t.Fatal(err)
				}
				_, err = p.Wait()
				_ = p.Cleanup()
				if err != nil {
					t.Fatal(err)
				}
			} else if _, err := Exec(context.Background(), sleeper.Pid(), ExecSpec{Args: args, Stdout: out, Stderr: &errOut}); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != want.String() {
				t.Errorf("got %d bytes of %d (stderr %q)", len(got), want.Len(), errOut.String())
			}
		})
	}
}

// A process an exec leaves behind holding its stdout does not hold the
// exec: quiet, it ends it after a moment (stdio.OutputIdle); chatty, after
// stdio.OutputLinger. What the command itself wrote is all there, and the
// caller's file is not held by the process left behind.
func TestExecLeftBehindDoesNotHold(t *testing.T) {
	needRoot(t)
	sleeper := startSleeper(t, newRootfs(t))
	for _, tc := range []struct {
		name, script string
		within       time.Duration
	}{
		{"quiet", "sleep 100 & echo started", stdio.OutputLinger},
		{"chatty", "(while :; do echo tick; sleep 0.01; done) & echo started", stdio.OutputLinger + 2*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A file as stdout, copied through a duplicate of it.
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			var out syncBuffer
			copied := make(chan struct{})
			go func() {
				defer close(copied)
				_, _ = io.Copy(&out, r)
			}()
			start := time.Now()
			code, err := Exec(context.Background(), sleeper.Pid(), ExecSpec{Args: []string{"sh", "-c", tc.script}, Stdout: w})
			took := time.Since(start)
			w.Close()
			if err != nil || code != 0 {
				t.Fatalf("exit %d, %v", code, err)
			}
			// Nothing in the container holds the file itself.
			select {
			case <-copied:
			case <-time.After(5 * time.Second):
				r.Close()
				t.Fatal("the stdout file is still open in the container after the exec")
			}
			if took > tc.within {
				t.Errorf("exec took %v, want at most %v", took, tc.within)
			}
			// The background loop may print before the shell's echo runs
			// (a loaded machine schedules it first), so "started" is a line
			// somewhere, not necessarily the first.
			if !strings.HasPrefix(out.String(), "started\n") && !strings.Contains(out.String(), "\nstarted\n") {
				t.Errorf("output %q", out.String())
			}
		})
	}
}

// When the reader of hoist's stdout goes away (`hoist exec … | head -1`),
// the container's command gets SIGPIPE as if it wrote to the pipe itself,
// and hoist, whose own fd 1 that is, lives on to clean up.
func TestClosedStdoutEndsCommandNotCaller(t *testing.T) {
	if rootfs := os.Getenv(childEnv); rootfs != "" {
		code, err := runOnStdout(rootfs, testID(t))
		fmt.Fprintf(os.Stderr, "code=%d err=%v\n", code, err)
		// Not the test's PASS on the closed stdout (which would be
		// SIGPIPE): this is not a test run.
		os.Exit(0)
	}
	needRoot(t)
	rootfs := newRootfs(t)
	cmd := childCmd(t, rootfs)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut syncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "y\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	stdout.Close()
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	err = cmd.Wait()
	timer.Stop()
	if err != nil {
		t.Fatalf("the caller: %v; stderr %q", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), fmt.Sprintf("code=%d err=<nil>", 128+int(syscall.SIGPIPE))) {
		t.Errorf("stderr %q: want the command killed by SIGPIPE", errOut.String())
	}
}

// runOnStdout runs yes in a container with this process's stdout (not as
// pid 1, which SIGPIPE would not kill).
func runOnStdout(rootfs, id string) (int, error) {
	p, err := Start(context.Background(), Spec{ID: id, Rootfs: rootfs, Args: []string{"sh", "-c", "yes; exit $?"}, Stdout: os.Stdout})
	if err != nil {
		return 0, err
	}
	code, err := p.Wait()
	return code, errors.Join(err, p.Cleanup())
}

// A file marked Handover (one made for the container alone, as a
// supervisor's FIFO) is given as it is; a nil stdin is an empty pipe.
func TestHandoverGivesTheFileItself(t *testing.T) {
	needRoot(t)
	path := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Start(context.Background(), Spec{ID: testID(t), Rootfs: newRootfs(t),
		Args:   []string{"sh", "-c", "cat; readlink /proc/$$/fd/0; readlink /proc/$$/fd/1"},
		Stdout: Handover{File: f}})
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	_ = p.Cleanup()
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "pipe:[") || lines[1] != path {
		t.Errorf("output %q: want stdin a pipe, stdout %s", b, path)
	}
}
