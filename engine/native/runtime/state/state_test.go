package state

import (
	"os"
	"testing"
)

func TestReadStateDetectsPidReuse(t *testing.T) {
	dir := t.TempDir()
	start, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Our own pid, but "started" at another time: a reused pid.
	if err := Write(dir, State{Status: Running, Pid: os.Getpid(), StartTime: start + 1}); err != nil {
		t.Fatal(err)
	}
	st, err := Read(dir)
	if err != nil || st.Status != Exited || st.ExitCode != -1 {
		t.Fatalf("state %+v, %v", st, err)
	}
	if err := Write(dir, State{Status: Running, Pid: os.Getpid(), StartTime: start}); err != nil {
		t.Fatal(err)
	}
	if st, err := Read(dir); err != nil || st.Status != Running {
		t.Fatalf("state %+v, %v", st, err)
	}
}
