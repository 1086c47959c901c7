// Command probe is copied into test containers to try what busybox cannot:
// keyring syscalls, writing to a process's executable, opening device
// nodes and making syscalls with the errno printed by name, and what its
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

func errnoOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
