package rootless

import (
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime"
)

func init() {
	runtime.RegisterRole(RoleUserns, RunUserns)
}

// RunUserns waits (fd 3) until the host side mapped the namespace, then
// executes hoist again in the next role (the anchor, or
// HolderConfig.Next): capabilities are computed at execve, and this
// process's were dropped by the one that started it, before it had a
// root. cmd/hoist/fastrun runs it before most of hoist is initialised.
func RunUserns() int {
	buf := make([]byte, 1)
	if n, _ := os.NewFile(3, "go").Read(buf); n != 1 {
		return 1
	}
	ready := os.NewFile(4, "ready")
	var cfg HolderConfig
	if err := json.Unmarshal([]byte(os.Args[1]), &cfg); err != nil {
		fmt.Fprintf(ready, "holder config: %v\n", err)
		return 1
	}
	next := RoleAnchor
	switch {
	case cfg.Next != "":
		// A command of its own (RunIn) keeps the ready pipe, its word
		// to the host side.
		next = cfg.Next
		unix.CloseOnExec(3)
	case cfg.KeepUID != 0:
		next = RoleKeepID
	}
	err := unix.Exec("/proc/self/exe", []string{next, os.Args[1]}, os.Environ())
	fmt.Fprintf(ready, "exec %s: %v\n", next, err)
	return 127
}
