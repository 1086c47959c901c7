// Command probe is copied into test containers to try what busybox cannot:
// keyring syscalls, writing to a process's executable, and opening device
// nodes with the errno printed by name.
package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	switch os.Args[1] {
	case "personality":
		// personality VALUE...: each call's errno (the old persona is
		// restored after each success).
		for _, a := range os.Args[2:] {
			var v uint64
			fmt.Sscan(a, &v)
			old, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
			_, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(v), 0, 0)
			if e == 0 {
				unix.RawSyscall(unix.SYS_PERSONALITY, old, 0, 0)
			}
			fmt.Printf("personality %s: %s\n", a, errnoName(errnoOrNil(e)))
		}
	case "socket":
		// socket DOMAIN...: socket(DOMAIN, SOCK_STREAM, 0)'s errno, with
		// DOMAIN a 64-bit value (the kernel reads its low 32 bits).
		for _, a := range os.Args[2:] {
			var v uint64
			fmt.Sscan(a, &v)
			fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(v), unix.SOCK_STREAM, 0)
			if e == 0 {
				unix.Close(int(fd))
			}
			fmt.Printf("socket %s: %s\n", a, errnoName(errnoOrNil(e)))
		}
	case "mknod":
		// mknod PATH b|c MAJOR MINOR
		mode := uint32(unix.S_IFCHR)
		if os.Args[3] == "b" {
			mode = unix.S_IFBLK
		}
		var major, minor uint32
		fmt.Sscan(os.Args[4], &major)
		fmt.Sscan(os.Args[5], &minor)
		fmt.Println("mknod:", errnoName(unix.Mknod(os.Args[2], mode|0o600, int(unix.Mkdev(major, minor)))))
	case "read", "write":
		// read PATH N: open read-only and print up to N bytes;
		// write PATH DATA: open write-only and write DATA.
		flag := os.O_RDONLY
		if os.Args[1] == "write" {
			flag = os.O_WRONLY
		}
		f, err := os.OpenFile(os.Args[2], flag, 0)
		fmt.Println("open:", errnoName(err))
		if err != nil {
			return
		}
		defer f.Close()
		if flag == os.O_WRONLY {
			_, err = f.Write([]byte(os.Args[3]))
			fmt.Println("write:", errnoName(err))
			return
		}
		var n int
		fmt.Sscan(os.Args[3], &n)
		buf := make([]byte, n)
		k, err := f.Read(buf)
		fmt.Printf("read: %s %q\n", errnoName(err), buf[:k])
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

func errnoOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// errnoName is err's errno by name (EPERM), for exact assertions.
func errnoName(err error) string {
	if err == nil {
		return "ok"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}
