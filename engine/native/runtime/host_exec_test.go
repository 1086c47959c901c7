package runtime

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestExec(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := Spec{ID: testID(t), Rootfs: newRootfs(t), Hostname: "exec-box", Args: []string{"sleep", "1000"}}
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Cleanup(); err != nil {
			t.Error(err)
		}
		_, _ = p.Wait()
	}()
	execOut := func(es ExecSpec) (int, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		es.Stdout, es.Stderr = &out, &errOut
		code, err := Exec(ctx, p.Pid(), es)
		if err != nil {
			t.Fatalf("exec: %v (stderr %q)", err, errOut.String())
		}
		return code, out.String()
	}

	var want string
	code, out := execOut(ExecSpec{Args: []string{"cat", "/proc/self/status"}, Security: spec.Security})
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for key, want := range map[string]string{"CapEff": dockerDefaultCaps, "CapBnd": dockerDefaultCaps, "Seccomp": "2"} {
		if got := field(t, out, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}

	code, out = execOut(ExecSpec{
		Args: []string{"sh", "-c", `hostname; pwd; echo $V; tr '\0' ' ' < /proc/1/cmdline; echo; ls /proc/self/fd | tr '\n' ' '; echo; grep memory /proc/self/cgroup | grep -c "hoist/` + spec.ID + `$"; set -- /proc/[0-9]*; echo $#; exit 5`},
		Env:  []string{"V=from-exec"}, Cwd: "/tmp",
	})
	// Only the container's sleep and this shell (no fork for the count).
	want = "exec-box\n/tmp\nfrom-exec\nsleep 1000 \n0 1 2 3 \n1\n2\n"
	if code != 5 || out != want {
		t.Fatalf("exit %d output %q want %q", code, out, want)
	}

	code, out = execOut(ExecSpec{Args: []string{"sh", "-c", "id -u; grep CapEff /proc/self/status"}, User: "nobody"})
	if code != 0 || out != "65534\nCapEff:\t0000000000000000\n" {
		t.Fatalf("exit %d output %q", code, out)
	}

	// A second container can join the first one's network namespace.
	netns := fmt.Sprintf("/proc/%d/ns/net", p.Pid())
	want, err = os.Readlink(netns)
	if err != nil {
		t.Fatal(err)
	}
	code, got, _ := run(t, Spec{ID: spec.ID + "-join", Rootfs: spec.Rootfs, Network: Network{Mode: NetworkJoin, Path: netns}, Args: []string{"readlink", "/proc/self/ns/net"}})
	if code != 0 || got != want+"\n" {
		t.Fatalf("joined netns %q, want %q", got, want)
	}

	var errOut bytes.Buffer
	if _, err := Exec(ctx, p.Pid(), ExecSpec{Args: []string{"no-such-command"}, Stderr: &errOut}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing command: %v", err)
	}
}

// A TTY exec gets a pty of the container's own devpts as its controlling
// terminal, with the size asked for and later resizes; a ^C typed on it
// interrupts the command through the terminal's line discipline, as in an
// interactive shell.
func TestExecTTY(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := Spec{ID: testID(t), Rootfs: newRootfs(t), Args: []string{"sleep", "1000"}}
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = p.Cleanup()
		_, _ = p.Wait()
	}()

	var out syncBuffer
	code, err := Exec(ctx, p.Pid(), ExecSpec{
		Args: []string{"sh", "-c", "tty; stty size; ls -ln $(tty) | awk '{print $3}'; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty"},
		User: "nobody", Security: spec.Security, TTY: true, Size: WinSize{Rows: 40, Cols: 123}, Stdout: &out,
	})
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %q", code, err, out.String())
	}
	got := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if want := "/dev/pts/0\n40 123\n65534\nall-tty\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}

	// Resize, then ^C: sleep dies of SIGINT, and the shell reports it.
	stdinR, stdinW := io.Pipe()
	resize := make(chan WinSize, 1)
	out = syncBuffer{}
	done := make(chan error, 1)
	var codeC int
	go func() {
		var err error
		codeC, err = Exec(ctx, p.Pid(), ExecSpec{
			Args:     []string{"sh", "-c", "trap 'stty size; echo got-int; exit 9' INT; echo ready; while :; do sleep 0.05; done"},
			Security: spec.Security, TTY: true, Size: WinSize{Rows: 10, Cols: 20}, Stdin: stdinR, Stdout: &out, Resize: resize,
		})
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "ready"); {
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resize <- WinSize{Rows: 50, Cols: 160}
	time.Sleep(100 * time.Millisecond)
	if _, err := stdinW.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || codeC != 9 {
		t.Fatalf("exit %d, %v: %q", codeC, err, out.String())
	}
	if got := strings.ReplaceAll(out.String(), "\r\n", "\n"); !strings.Contains(got, "50 160\ngot-int\n") {
		t.Errorf("output %q: want the new size and the interrupt", got)
	}
}

// A container started with TTY (run in a terminal) has the pty as its
// command's controlling terminal, with or without an init: a ^C typed on
// it interrupts the command, not the init.
func TestStartTTY(t *testing.T) {
	needRoot(t)
	rootfs := newRootfs(t)
	for _, init := range []bool{false, true} {
		t.Run(fmt.Sprintf("init=%v", init), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := Start(ctx, Spec{ID: testID(t), Rootfs: rootfs, Init: init, TTY: true, Size: WinSize{Rows: 24, Cols: 99},
				Args: []string{"sh", "-c", "tty; stty size; trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.05; done"}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Cleanup()
			if p.Console == nil {
				t.Fatal("no console")
			}
			stdinR, stdinW := io.Pipe()
			var out syncBuffer
			drain := ServeConsole(p.Console, stdinR, &out, nil)
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "ready"); {
				if time.Now().After(deadline) {
					t.Fatalf("never ready: %q", out.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := stdinW.Write([]byte{3}); err != nil {
				t.Fatal(err)
			}
			code, err := p.Wait()
			drain()
			if err != nil || code != 9 {
				t.Fatalf("exit %d, %v: %q", code, err, out.String())
			}
			if got := strings.ReplaceAll(out.String(), "\r\n", "\n"); !strings.HasPrefix(got, "/dev/pts/0\n24 99\nready\n") || !strings.Contains(got, "got-int") {
				t.Errorf("output %q", got)
			}
		})
	}
}
