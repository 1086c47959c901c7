package runtime

import (
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// procNameMax is the kernel's limit of a process name (TASK_COMM_LEN
// less its NUL).
const procNameMax = 15

// procName is the name ps and top show for a process in role: a
// re-executed hoist is otherwise named after the file it was executed
// from ("exe" for /proc/self/exe, a descriptor's number for the sealed
// init), which tells the user nothing. The command line (argv) still
// says the role in full, and the supervisor's its project.
func procName(role string) string {
	short, _ := strings.CutPrefix(role, rolePrefix)
	if short == "supervisor" {
		short = "sup"
	}
	name := "hoist-" + short
	if len(name) > procNameMax {
		name = name[:procNameMax]
	}
	return name
}

// setProcName names the calling thread, which for a role is the main
// one: /proc/PID/comm is the main thread's name.
func setProcName(role string) {
	b, err := unix.BytePtrFromString(procName(role))
	if err != nil {
		return
	}
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(b)), 0, 0, 0)
}
