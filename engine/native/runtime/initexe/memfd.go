package initexe

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sealedSelf returns a sealed memfd copy of the running hoist binary, and
// sealedCopy one of an init binary image (binary.go).
//
// Why (CVE-2019-5736): every hoist process that runs inside a container
// (the init before it execs the command, the pid 1 reaper of Init, the
// helper of Exec) is started from such a copy, so its /proc/<pid>/exe is
// the memfd and never a binary on the host. The seals forbid writing,
// growing and shrinking it, and it is executing, so opening it for writing
// fails too; even a successful open would only reach this private copy.
// These processes also make themselves non-dumpable first thing, so the
// container's processes (without CAP_SYS_PTRACE) cannot open
// /proc/<pid>/exe at all. The seals make one copy safe to share, so a
// process makes one (Binary.sealed) for all the containers it starts:
// about 2 MB for the embedded init binary, hoist's size without it.
func sealedSelf() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open own binary: %w", err)
	}
	defer src.Close()
	return sealedCopy(src)
}

func sealedCopy(src io.Reader) (*os.File, error) {
	fd, err := unix.MemfdCreate("hoist", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 6.3 do not know MFD_EXEC; their memfds are executable.
		fd, err = unix.MemfdCreate("hoist", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "hoist-memfd")
	if _, err := io.Copy(mem, src); err != nil {
		mem.Close()
		return nil, fmt.Errorf("copy binary: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal binary copy: %w", err)
	}
	return mem, nil
}
