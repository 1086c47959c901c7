// Command probe is copied into test containers to try what busybox cannot:
// keyring syscalls, writing to a process's executable, and what its
// standard streams and session let it do to a terminal.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	switch os.Args[1] {
	case "keyctl":
		_, err := unix.AddKey("user", "hoist-test", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		fmt.Println("add_key:", errName(err))
		_, err = unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
		fmt.Println("keyctl:", errName(err))
	case "write-exe":
		// os.Args[2] is a /proc/<pid>/exe; try it directly and through an
		// O_PATH handle reopened for writing, the CVE-2019-5736 route.
		f, err := os.OpenFile(os.Args[2], os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write([]byte("#!"))
			f.Close()
		}
		fmt.Println("open:", errName(err))
		fd, err := unix.Open(os.Args[2], unix.O_PATH, 0)
		if err == nil {
			var g *os.File
			g, err = os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_WRONLY, 0)
			if err == nil {
				_, err = g.Write([]byte("#!"))
				g.Close()
			}
		}
		fmt.Println("reopen:", errName(err))
	case "stdio":
		// What fds 0 to 2 are, whether TIOCSTI (typing into a
		// terminal's input) works on them, whether /dev/tty opens, and
		// the controlling terminal (tty_nr of /proc/self/stat).
		for fd := 0; fd <= 2; fd++ {
			link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
			if err != nil {
				link = errnoName(err)
			}
			fmt.Printf("fd%d %s\n", fd, link)
		}
		for fd := 0; fd <= 2; fd++ {
			fmt.Printf("tiocsti%d %s\n", fd, errnoName(typeInto(fd, "#injected\n")))
		}
		f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err == nil {
			f.Close()
		}
		fmt.Println("devtty", errnoName(err))
		stat, err := os.ReadFile("/proc/self/stat")
		if err != nil {
			fmt.Println("ctty", errnoName(err))
			break
		}
		// The fields after the command name, which ends at the last ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		fmt.Println("ctty", fields[4])
	}
}

// typeInto pushes s into the input of the terminal fd, one byte at a time.
func typeInto(fd int, s string) error {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&b))); e != 0 {
			return e
		}
	}
	return nil
}

// errnoName is "ok" for nil, the errno's name (ENOTTY) for an errno.
func errnoName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		return unix.ErrnoName(e)
	}
	return errName(err)
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
