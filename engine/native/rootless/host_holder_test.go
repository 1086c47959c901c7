package rootless

import (
	"bufio"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/procfs"
)

// startHolder runs sh -c script as a stand-in for a holder (the child of
// this process, so it stays a zombie until reaped, as an anchor this
// process started does) and waits for its first line.
func startHolder(t *testing.T, script string) (*Holder, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("holder stand-in: %v", err)
	}
	st, err := procfs.StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return &Holder{Pid: cmd.Process.Pid, StartTime: st}, cmd
}

// end returns as soon as the holder has ended on SIGTERM, unreaped
// (a zombie): it neither waits out the grace nor polls.
func TestEndReturnsWhenTheHolderEnds(t *testing.T) {
	h, _ := startHolder(t, "echo ready; exec sleep 60")
	start := time.Now()
	h.end(10 * time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("end took %v for a holder that ends on SIGTERM", d)
	}
	if !procfs.Exited(h.Pid) {
		t.Fatalf("holder %d still runs after end", h.Pid)
	}
}

// A holder that ignores SIGTERM is killed once the grace is over.
func TestEndKillsAfterTheGrace(t *testing.T) {
	h, cmd := startHolder(t, "trap '' TERM; echo ready; while :; do sleep 1; done")
	start := time.Now()
	h.end(300 * time.Millisecond)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("end returned after %v, before the grace, with the holder ignoring SIGTERM", d)
	}
	_ = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("holder ended with %v, want killed by SIGKILL", cmd.ProcessState)
	}
}

// A recorded holder whose pid is now another process's (a different
// start time) is left alone.
func TestEndLeavesAReusedPidAlone(t *testing.T) {
	h, _ := startHolder(t, "echo ready; exec sleep 60")
	h.StartTime++
	h.end(time.Second)
	if procfs.Exited(h.Pid) {
		t.Fatalf("end signalled process %d, which is not the recorded holder", h.Pid)
	}
}
