// Command probe is copied into test containers to try what busybox cannot:
// keyring syscalls and writing to a process's executable.
package main

import (
	"fmt"
	"os"

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
	}
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
