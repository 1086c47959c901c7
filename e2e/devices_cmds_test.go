package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

func init() {
	commands["loopdev"] = cmdLoopDev
}

// loopdev VAR FILE attaches a loop device to FILE (in the script's work
// dir; extended to 64 KiB, as a loop device's size is whole sectors) and
// detaches it when the script ends; $VAR is the device's path,
// ${VAR}_MAJOR and ${VAR}_MINOR its numbers.
func cmdLoopDev(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: loopdev VAR FILE")
	}
	file := ts.MkAbs(args[1])
	ts.Check(os.Truncate(file, 64<<10))
	out, err := exec.Command("losetup", "--find", "--show", file).CombinedOutput()
	if err != nil {
		ts.Fatalf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	ts.Defer(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "losetup -d %s: %v: %s\n", dev, err, out)
		}
	})
	var st unix.Stat_t
	ts.Check(unix.Stat(dev, &st))
	ts.Setenv(args[0], dev)
	ts.Setenv(args[0]+"_MAJOR", fmt.Sprint(unix.Major(st.Rdev)))
	ts.Setenv(args[0]+"_MINOR", fmt.Sprint(unix.Minor(st.Rdev)))
}
