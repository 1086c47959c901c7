package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// Docker defaults that are not syscalls to refuse but properties of what
// a container is given: its own /dev nodes, noexec tmpfs mounts, and a
// seccomp filter that judges a 64-bit argument as a whole.
func init() {
	cases["chmod_dev_null"] = chmodDevNull
	cases["exec_tmpfs"] = execTmpfs
	cases["socket_vsock_hiword"] = socketVsockHiword
}

// chmodDevNull changes the mode and owner of the container's /dev/null
// and leaves them so: a container's root may, on its own node. The host
// side checks that the host's /dev/null did not change with it (a node
// bound from the host's /dev is the host's inode).
func chmodDevNull(*opts) result {
	if err := unix.Chmod("/dev/null", 0o606); err != nil {
		return denied("chmod /dev/null", err)
	}
	if err := unix.Chown("/dev/null", 65534, 65534); err != nil {
		return denied("chown /dev/null", err)
	}
	return allowed("/dev/null is 0606 and 65534's in the container")
}

// execTmpfs copies the probe onto the service's tmpfs (/scratch) and runs
// it: Docker mounts every tmpfs noexec.
func execTmpfs(*opts) result {
	dst := "/scratch/probe-copy"
	if err := copyFile("/proc/self/exe", dst, 0o755); err != nil {
		return denied("copy the probe onto /scratch", err)
	}
	defer os.Remove(dst)
	out, err := exec.Command(dst, "-h").CombinedOutput()
	var ee *exec.ExitError
	if err == nil || errors.As(err, &ee) {
		return allowed("ran from the tmpfs: %.60q", out)
	}
	return denied("exec from the tmpfs", err)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// socketVsockHiword asks for an AF_VSOCK (40) socket with a high word in
// the domain argument, which the kernel ignores (it reads an int). A
// filter that compares the low word alone, or loses track of the syscall
// number after a failed argument test, lets it through. EPERM is the
// filter's refusal; any other outcome (EAFNOSUPPORT without vsock) means
// the filter passed it.
func socketVsockHiword(*opts) result {
	const domain = 56<<32 | unix.AF_VSOCK
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, domain, unix.SOCK_STREAM, 0)
	switch e {
	case 0:
		unix.Close(int(fd))
		return allowed("socket(%#x) made a vsock socket", uint64(domain))
	case unix.EPERM:
		return denied(fmt.Sprintf("socket(%#x)", uint64(domain)), e)
	}
	return allowed("socket(%#x) passed the filter: %v", uint64(domain), e)
}
