package escape

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is a pty standing for the user's terminal. hoist runs under a
// session leader on its slave side (probe session: the user's shell),
// so the terminal is hoist's controlling terminal, as it is when a user
// types a hoist command. What hoist and the containers write to it is
// drained from the master; what is typed into it (TIOCSTI) is read from
// the slave after hoist has returned, where the user's shell would read
// it as keystrokes.
type terminal struct {
	t         *testing.T
	master    *os.File
	slavePath string

	mu  sync.Mutex
	out bytes.Buffer // the screen: everything written to the terminal

	session *exec.Cmd // the session leader, ended by close
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	// Opened through os, the master is non-blocking and in Go's poller,
	// so close ends the drain below.
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	// Through SyscallConn, not Fd(), which would take the master out of
	// the poller for good.
	var n int
	rc, err := master.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err != nil {
				return
			}
			n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		})
		err = errors.Join(err, cerr)
	}
	if err != nil {
		master.Close()
		t.Fatalf("unlockpt, ptsname: %v", err)
	}
	tm := &terminal{t: t, master: master, slavePath: fmt.Sprintf("/dev/pts/%d", n)}
	// Raw: no echo, no line discipline, so typed bytes stay as they are
	// and are readable without a newline.
	if s, err := unix.Open(tm.slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err == nil {
		if tio, err := unix.IoctlGetTermios(s, unix.TCGETS); err == nil {
			makeRaw(tio)
			unix.IoctlSetTermios(s, unix.TCSETS, tio)
		}
		unix.Close(s)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				tm.mu.Lock()
				tm.out.Write(buf[:n])
				tm.mu.Unlock()
			}
			// EIO while no slave is open: wait for the next one.
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if err != nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(tm.close)
	return tm
}

func makeRaw(tio *unix.Termios) {
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN] = 1
	tio.Cc[unix.VTIME] = 0
}

// run runs hoist ARGS of p in the terminal and returns once hoist has
// returned (the session leader stays, as a shell does); the error holds
// what hoist printed. done, when not nil, tells that the container side
// has finished (the probe's results are complete): hoist must then
// return within a few seconds, as docker compose does, or run reports
// that it still holds the user's terminal.
func (tm *terminal) run(p *project, done func() bool, args ...string) error {
	tm.t.Helper()
	if tm.session != nil {
		tm.t.Fatal("one hoist per terminal")
	}
	slave, err := os.OpenFile(tm.slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer slave.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer statusR.Close()
	hoistArgs := append([]string{env.hoistBin, "-p", p.name, "--progress", "plain"}, args...)
	cmd := exec.Command(env.probeBin, append([]string{"session", "--"}, hoistArgs...)...)
	cmd.Dir = p.dir
	cmd.Env = append(cmdEnv(p.engine), "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.ExtraFiles = []*os.File{statusW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		statusW.Close()
		return err
	}
	statusW.Close()
	tm.session = cmd
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(statusR).ReadString('\n')
		line <- s
	}()
	deadline := time.After(3 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var doneAt time.Time
	for {
		select {
		case s := <-line:
			if strings.HasPrefix(s, "exit 0") {
				return nil
			}
			if s == "" {
				s = "the session ended without a status"
			}
			return fmt.Errorf("hoist %s: %s\nterminal:\n%s", strings.Join(args, " "), strings.TrimSpace(s), tm.screen())
		case <-tick.C:
			if done == nil {
				continue
			}
			if doneAt.IsZero() {
				if done() {
					doneAt = time.Now()
				}
			} else if time.Since(doneAt) > hoistGrace {
				return fmt.Errorf("hoist %s: the command in the container has ended, but hoist has not returned %v later: it still holds the user's terminal (docker compose returns)", strings.Join(args, " "), hoistGrace)
			}
		case <-deadline:
			return fmt.Errorf("hoist %s: still running after 3 minutes\nterminal:\n%s", strings.Join(args, " "), tm.screen())
		}
	}
}

// hoistGrace is how long hoist may take to return once the command it
// runs in a container has ended.
const hoistGrace = 10 * time.Second

// screen is what was written to the terminal so far.
func (tm *terminal) screen() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

// typeIn types s into the terminal, as the user does at the keyboard.
func (tm *terminal) typeIn(s string) {
	if _, err := tm.master.Write([]byte(s)); err != nil {
		tm.t.Errorf("type into the terminal: %v", err)
	}
}

// pendingInput is what waits in the terminal's input for the next reader
// (the user's shell): read from a fresh slave descriptor, without
// blocking. It consumes what it reads.
func (tm *terminal) pendingInput() string {
	s, err := os.OpenFile(tm.slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return "open " + tm.slavePath + ": " + err.Error()
	}
	defer s.Close()
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for {
		s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := s.Read(buf)
		got.Write(buf[:n])
		if err != nil || n == 0 {
			return got.String()
		}
	}
}

// close ends the session leader (a process this test started) and the
// terminal.
func (tm *terminal) close() {
	if tm.session != nil && tm.session.Process != nil {
		tm.session.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { tm.session.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tm.session.Process.Kill()
			<-done
		}
	}
	tm.master.Close()
}
