package rootnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by a closed Netns.
var ErrClosed = errors.New("rootnet: network namespace handle closed")

// Netns is a handle on a project's network namespace. It holds the
// namespace open (it lives as long as the handle does) and, once Dial is
// first used, one OS thread locked inside it that makes sockets.
type Netns struct {
	fd   int
	path string

	mu      sync.Mutex
	closed  bool
	entries sync.WaitGroup // Do calls not yet past setns; Close waits, then closes fd
	reqs    chan socketReq // nil until the socket thread runs
	stop    chan struct{}
	stopped chan struct{}
}

type socketReq struct {
	domain, typ int
	reply       chan socketRes
}

type socketRes struct {
	fd  int
	err error
}

// Open opens the network namespace at path (an nsfs file: a bind mount,
// /proc/PID/ns/net, /proc/self/fd/N) and checks that this process can
// enter it.
func Open(path string) (*Netns, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	n := &Netns{fd: fd, path: path}
	if err := n.Do(func() error { return nil }); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return n, nil
}

// Enter runs f on a fresh OS thread inside the network namespace at path;
// the thread is thrown away afterwards.
func Enter(path string, f func() error) error {
	n, err := Open(path)
	if err != nil {
		return err
	}
	defer n.Close()
	return n.Do(f)
}

// Path is the path n was opened from.
func (n *Netns) Path() string { return n.path }

// Do runs f on a fresh OS thread locked inside n and returns its error.
// The thread never comes back to the scheduler: it ends with f's
// goroutine. Sockets f makes stay in n and may be used anywhere.
func (n *Netns) Do(f func() error) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.entries.Add(1)
	n.mu.Unlock()
	errc := make(chan error, 1)
	go n.run(f, errc)
	return <-errc
}

// run is Do's goroutine.
func (n *Netns) run(f func() error, errc chan<- error) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// The main thread is never thrown away but wedged, and its
		// namespace is the one /proc/self/net shows for the whole
		// process: keep it, and hand the work to a goroutine that this
		// one, holding the main thread, keeps off it.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			n.runLocked(f, errc)
		}()
		<-locked
		runtime.UnlockOSThread()
		return
	}
	n.runLocked(f, errc)
}

// runLocked runs f in n on the calling thread, locked and not the main
// one. The thread never returns to the scheduler once in n.
func (n *Netns) runLocked(f func() error, errc chan<- error) {
	if err := n.enter(); err != nil {
		runtime.UnlockOSThread() // still in its own namespace
		errc <- err
		return
	}
	errc <- f()
	// No UnlockOSThread: the thread ends with this goroutine.
}

// enter moves the calling thread, locked and not the main one, into n.
func (n *Netns) enter() error {
	defer n.entries.Done()
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", n.path, err)
	}
	return nil
}

// Listen listens on addr ("tcp", "tcp4", ...) inside n.
func (n *Netns) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.Do(func() error {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, network, addr)
		return err
	})
	return ln, err
}

// ListenPacket is Listen for "udp", "udp4", ...
func (n *Netns) ListenPacket(ctx context.Context, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := n.Do(func() error {
		var err error
		pc, err = (&net.ListenConfig{}).ListenPacket(ctx, network, addr)
		return err
	})
	return pc, err
}

// Dial connects to target from inside n: the socket is made by n's socket
// thread and connected from the calling goroutine. network is "tcp" (a
// *net.TCPConn is returned) or "udp" (a *net.UDPConn). Its signature is
// portproxy.Proxy's Dial hook.
func (n *Netns) Dial(ctx context.Context, network string, target netip.AddrPort) (net.Conn, error) {
	var typ int
	switch network {
	case "tcp", "tcp4", "tcp6":
		typ = unix.SOCK_STREAM
	case "udp", "udp4", "udp6":
		typ = unix.SOCK_DGRAM
	default:
		return nil, fmt.Errorf("rootnet: dial %s: network %q is not supported", target, network)
	}
	target = netip.AddrPortFrom(target.Addr().Unmap(), target.Port())
	domain, sa := sockaddr(target)
	fd, err := n.socket(ctx, domain, typ)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s in %s: %w", network, target, n.path, err)
	}
	f := os.NewFile(uintptr(fd), "rootnet-dial") // non-blocking, so on the poller
	defer f.Close()                              // net.FileConn holds a dup
	if err := connect(ctx, f, sa); err != nil {
		return nil, fmt.Errorf("dial %s %s in %s: %w", network, target, n.path, err)
	}
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s in %s: %w", network, target, n.path, err)
	}
	return c, nil
}

func sockaddr(ap netip.AddrPort) (int, unix.Sockaddr) {
	if ap.Addr().Is4() {
		return unix.AF_INET, &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
	}
	return unix.AF_INET6, &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
}

// connect connects f's socket to sa, waiting on the poller for a TCP
// handshake until ctx ends.
func connect(ctx context.Context, f *os.File, sa unix.Sockaddr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) { cerr = unix.Connect(int(fd), sa) }); err != nil {
		return err
	}
	if !errors.Is(cerr, unix.EINPROGRESS) {
		return cerr
	}
	if d, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	werr := rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			cerr = err
		case v != 0:
			cerr = unix.Errno(v)
		default:
			// SO_ERROR is 0 both while connecting and once connected.
			if _, err := unix.Getpeername(int(fd)); errors.Is(err, unix.ENOTCONN) {
				return false
			}
			cerr = nil
		}
		return true
	})
	if werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return werr
	}
	return cerr
}

// socket makes a non-blocking socket inside n on n's socket thread,
// starting that thread on first use.
func (n *Netns) socket(ctx context.Context, domain, typ int) (int, error) {
	reqs, stopped, err := n.socketThread()
	if err != nil {
		return -1, err
	}
	r := socketReq{domain: domain, typ: typ, reply: make(chan socketRes, 1)}
	select {
	case reqs <- r:
	case <-stopped:
		return -1, ErrClosed
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	res := <-r.reply
	return res.fd, res.err
}

func (n *Netns) socketThread() (chan socketReq, chan struct{}, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, nil, ErrClosed
	}
	if n.reqs != nil {
		return n.reqs, n.stopped, nil
	}
	reqs, stop, stopped := make(chan socketReq), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		err := n.Do(func() error {
			for {
				select {
				case <-stop:
					return nil
				case r := <-reqs:
					fd, err := unix.Socket(r.domain, r.typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
					r.reply <- socketRes{fd, err}
				}
			}
		})
		if err != nil {
			// Entering failed (Open checked it could): answer with it.
			for {
				select {
				case <-stop:
					return
				case r := <-reqs:
					r.reply <- socketRes{-1, err}
				}
			}
		}
	}()
	n.reqs, n.stop, n.stopped = reqs, stop, stopped
	return reqs, stopped, nil
}

// Close ends n's socket thread and releases n's hold on the namespace.
// Sockets made in it are not closed.
func (n *Netns) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	stop, stopped := n.stop, n.stopped
	n.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
	n.entries.Wait()
	return unix.Close(n.fd)
}
