package procfs

import (
	"os"
	"os/exec"
	"testing"
)

func TestStartTime(t *testing.T) {
	a, err := StartTime(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("own start time %d, %v", a, err)
	}
	if b, _ := StartTime(os.Getpid()); b != a {
		t.Errorf("start time changed: %d then %d", a, b)
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	c, err := StartTime(cmd.Process.Pid)
	if err != nil || c < a {
		t.Errorf("child start time %d (parent %d), %v", c, a, err)
	}
	if _, err := StartTime(1 << 30); err == nil {
		t.Error("a missing pid has a start time")
	}
}
