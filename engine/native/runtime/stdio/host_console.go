//go:build !hoistinit

package stdio

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ConsoleSocket is the socket pair over which a container's side sends
// its pty master (SetupConsole): ours, and the child's.
func ConsoleSocket() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console"), os.NewFile(uintptr(fds[1]), "console-child"), nil
}

// ReceiveConsole reads the pty master that the container's side sent
// over the unix socket sock (ours of ConsoleSocket).
func ReceiveConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tty: receive pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("tty: receive pty master: no descriptor")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("tty: receive pty master: no descriptor")
	}
	// Non-blocking, so that reads go through Go's poller and honour a
	// deadline.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("tty: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

// ServeConsole copies stdin into a container's terminal (the pty master
// console) and its output to stdout, and applies each size of resize. The
// returned drain, called once the process on the terminal exited, takes
// the output still in the terminal (briefly: a process left behind could
// hold it open) and closes console.
func ServeConsole(console *os.File, stdin io.Reader, stdout io.Writer, resize <-chan WinSize) (drain func()) {
	if stdout == nil {
		stdout = io.Discard
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(stdout, console)
	}()
	if stdin != nil {
		go func() { _, _ = io.Copy(console, stdin) }()
	}
	if resize != nil {
		if rc, err := console.SyscallConn(); err == nil {
			go func() {
				for ws := range resize {
					// Not console.Fd(): it would make the file blocking.
					_ = rc.Control(func(fd uintptr) {
						_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
					})
				}
			}()
		}
	}
	return func() {
		_ = console.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		<-done
		console.Close()
	}
}
