package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Terminal cases. The test runs hoist on a pty of its own, standing for
// the user's terminal, and reads that terminal's input after hoist
// returned: bytes pushed with TIOCSTI land there, where the user's shell
// would run them. The markers start with HOISTSTI so the test finds them.

func init() {
	for fd := 0; fd <= 2; fd++ {
		cases[fmt.Sprintf("tiocsti_fd%d", fd)] = func(o *opts) result { return tiocsti(fd, fmt.Sprintf("HOISTSTI-%s-fd%d", o.nonce, fd)) }
	}
	cases["open_devtty"] = openDevTTY
	cases["tiocsti_devtty"] = tiocstiDevTTY
	cases["bg_read"] = bgRead
}

// push types s into the terminal fd through TIOCSTI, byte by byte.
func push(fd int, s string) error {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSTI, uintptr(unsafe.Pointer(&b))); e != 0 {
			return e
		}
	}
	return nil
}

func tiocsti(fd int, marker string) result {
	if err := push(fd, marker); err != nil {
		return denied("ioctl TIOCSTI", err)
	}
	return allowed("pushed %q into fd %d (%s)", marker, fd, fdTarget(fd))
}

func fdTarget(fd int) string {
	t, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "?"
	}
	return t
}

func openDevTTY(o *opts) result {
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return denied("open /dev/tty", err)
	}
	defer unix.Close(fd)
	return allowed("opened /dev/tty: %s", fdTarget(fd))
}

func tiocstiDevTTY(o *opts) result {
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return denied("open /dev/tty", err)
	}
	defer unix.Close(fd)
	return tiocsti(fd, "HOISTSTI-"+o.nonce+"-tty")
}

// bgRead leaves a child behind that reads the terminal after hoist has
// returned (bgChild). Its verdict is the test's: whether what the test
// types into its terminal later shows up in o.capFile, and whether the
// child's late TIOCSTI shows up in the terminal. This line only says the
// child started.
func bgRead(o *opts) result {
	if o.goFile == "" || o.capFile == "" {
		return result{Outcome: "error", Detail: "bg_read needs -go and -cap"}
	}
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	cmd := exec.Command(self, "bgchild", "-go", o.goFile, "-cap", o.capFile, "-nonce", o.nonce)
	// Only stdin is inherited: a child holding stdout would keep an exec
	// attached on Docker, which waits for the end of the output.
	cmd.Stdin = os.Stdin
	if err := cmd.Start(); err != nil {
		return denied("start the background reader", err)
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	return allowed("background reader %d started; the test judges", pid)
}

// bgChild: read fd 0 and /dev/tty until the test says hoist is gone (the
// go file), half a second more, then push HOISTSTI-<nonce>-late into both
// and end. Everything goes to the capture file as it happens, so a child
// killed with its container still leaves what it got.
func bgChild(args []string) {
	fs := flag.NewFlagSet("bgchild", flag.ExitOnError)
	goFile := fs.String("go", "", "")
	capFile := fs.String("cap", "", "")
	nonce := fs.String("nonce", "x", "")
	fs.Parse(args)
	// A terminal's hangup or job control must not stop the attempt.
	signal.Ignore(syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU)
	capf, err := os.OpenFile(*capFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		os.Exit(2)
	}
	note := func(format string, args ...any) { fmt.Fprintf(capf, format+"\n", args...) }
	// Read through descriptions of its own, made non-blocking: another
	// reader of the same terminal or pipe (hoist) may take the bytes
	// between poll and read, and a blocking read would then hang the
	// child. Reopening through /proc gives a new open file description,
	// so O_NONBLOCK does not change the one the user's shell shares.
	fds := map[int]string{}
	if fd, err := unix.Open("/proc/self/fd/0", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
		fds[fd] = "fd0 " + fdTarget(0)
	} else {
		note("reopen fd 0 (%s): %v; reading it as it is", fdTarget(0), err)
		fds[0] = "fd0 " + fdTarget(0)
	}
	if fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
		fds[fd] = "tty " + fdTarget(fd)
	} else {
		note("open /dev/tty: %v", err)
	}
	note("start %s", strings.Join(values(fds), ", "))
	deadline := time.Now().Add(60 * time.Second)
	var goSeen time.Time
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		if goSeen.IsZero() {
			if _, err := os.Stat(*goFile); err == nil {
				goSeen = time.Now()
			}
		} else if time.Since(goSeen) > 500*time.Millisecond {
			break
		}
		var pfds []unix.PollFd
		for fd := range fds {
			pfds = append(pfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		if len(pfds) == 0 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if _, err := unix.Poll(pfds, 50); err != nil && err != unix.EINTR {
			note("poll: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for _, p := range pfds {
			if p.Revents == 0 {
				continue
			}
			fd := int(p.Fd)
			n, err := readAvailable(fd, p.Revents, buf)
			switch {
			case n > 0:
				note("read %s: %q", fds[fd], buf[:n])
			case err == nil, err == unix.EAGAIN, err == unix.EINTR:
			default:
				// EOF, EIO (hung up): this fd has nothing more to give.
				note("read %s: %v", fds[fd], err)
				delete(fds, fd)
			}
		}
	}
	for _, fd := range []int{0} {
		if err := push(fd, "HOISTSTI-"+*nonce+"-late"); err != nil {
			note("late TIOCSTI fd0: %v", err)
		} else {
			note("late TIOCSTI fd0: pushed")
		}
	}
	if fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		if err := push(fd, "HOISTSTI-"+*nonce+"-latetty"); err != nil {
			note("late TIOCSTI /dev/tty: %v", err)
		} else {
			note("late TIOCSTI /dev/tty: pushed")
		}
	} else {
		note("late open /dev/tty: %v", err)
	}
	note("end")
	capf.Close()
}

var errEOF = errors.New("end of file")

// readAvailable reads what fd has ready without ever blocking and
// without setting O_NONBLOCK, which would change the file for every
// process sharing it (the user's terminal, on a leaky engine): another
// reader of the same terminal (hoist) may take the bytes between poll and
// read. It returns 0, nil when there is nothing to read yet, and errEOF
// at the end.
func readAvailable(fd int, revents int16, buf []byte) (int, error) {
	avail, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD
	if err != nil {
		// Not a pipe, socket or terminal (/dev/null): reads do not block.
		n, err := unix.Read(fd, buf)
		if n == 0 && err == nil {
			err = errEOF
		}
		return n, err
	}
	if avail == 0 {
		if revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return 0, errEOF
		}
		return 0, nil
	}
	if avail < len(buf) {
		buf = buf[:avail]
	}
	return unix.Read(fd, buf)
}

func values(m map[int]string) []string {
	var v []string
	for _, s := range m {
		v = append(v, s)
	}
	return v
}
