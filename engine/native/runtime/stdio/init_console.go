package stdio

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SetupConsole is the helper's side of a TTY exec, in the container's
// mount namespace: a new pty from the container's own devpts instance (so
// that ttyname and `tty` name /dev/pts/N inside the container, as with
// Docker), its master sent to hoist over the console socket, its slave
// the controlling terminal of this process's session and fds 0 to 2.
//
// With claim false (the init that stays pid 1 and forks the command) the
// slave only becomes fds 0 to 2: the command takes it as its controlling
// terminal in a session of its own (the runtime's reapCommand).
func SetupConsole(sock int, size WinSize, claim bool) error {
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tty: open /dev/ptmx: %w", err)
	}
	defer unix.Close(master)
	// The container owns its /dev: make sure this is its devpts'
	// multiplexer and not something put in its place.
	var fsst unix.Statfs_t
	var st unix.Stat_t
	if unix.Fstatfs(master, &fsst) != nil || fsst.Type != unix.DEVPTS_SUPER_MAGIC || unix.Fstat(master, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return fmt.Errorf("tty: the container's /dev/ptmx is not a pty multiplexer")
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("tty: unlock pty: %w", err)
	}
	if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &unix.Winsize{Row: size.Rows, Col: size.Cols}); err != nil {
		return fmt.Errorf("tty: set size: %w", err)
	}
	// The slave through the master (no path lookup in the container).
	slave, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return fmt.Errorf("tty: open pty slave: %w", errno)
	}
	if err := unix.Sendmsg(sock, []byte{0}, unix.UnixRights(master), nil, 0); err != nil {
		unix.Close(int(slave))
		return fmt.Errorf("tty: send pty master: %w", err)
	}
	_ = unix.Close(sock)
	if claim {
		// This process already leads a session of its own, with no
		// terminal: the runtime's Spawn and Exec start it so.
		if err := unix.IoctlSetInt(int(slave), unix.TIOCSCTTY, 0); err != nil {
			return fmt.Errorf("tty: set controlling terminal: %w", err)
		}
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(slave), fd, 0); err != nil {
			return fmt.Errorf("tty: %w", err)
		}
	}
	if slave > 2 {
		_ = unix.Close(int(slave))
	}
	return nil
}
