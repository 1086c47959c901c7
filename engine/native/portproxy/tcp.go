package portproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

type tcpForwarder struct {
	p      *Proxy
	ln     *net.TCPListener
	target netip.AddrPort

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func (f *tcpForwarder) serve(ctx context.Context) {
	defer f.wg.Wait()
	for {
		c, err := f.ln.AcceptTCP()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of fds, say: wait a little, as net/http does
			f.p.Logf("portproxy: accept on %s: %v", f.ln.Addr(), err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Go(func() {
			defer f.untrack(c)
			f.forward(ctx, c)
		})
	}
}

func (f *tcpForwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *tcpForwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

// closeAll ends every connection; serve then returns.
func (f *tcpForwarder) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
}

// forward copies both ways between client and a new connection to the
// target, passing each side's end of stream on as a half close.
func (f *tcpForwarder) forward(ctx context.Context, client *net.TCPConn) {
	up, err := f.dial(ctx)
	if err != nil {
		f.p.Logf("portproxy: %s: %v", f.ln.Addr(), err)
		return
	}
	if !f.track(up) {
		up.Close()
		return
	}
	defer f.untrack(up)
	Splice(client, up.(*net.TCPConn))
}

func (f *tcpForwarder) dial(ctx context.Context) (net.Conn, error) {
	if f.p.Dial == nil {
		d := net.Dialer{Timeout: f.p.DialTimeout}
		return d.DialContext(ctx, "tcp", f.target.String())
	}
	ctx, cancel := context.WithTimeout(ctx, f.p.DialTimeout)
	defer cancel()
	return f.p.Dial(ctx, "tcp", f.target)
}

// Splice copies both ways between a and b until both ends of stream,
// passing each side's end of stream on as a half close. It closes
// neither connection.
func Splice(a, b *net.TCPConn) {
	done := make(chan struct{})
	go func() {
		io.Copy(b, a)
		b.CloseWrite()
		close(done)
	}()
	io.Copy(a, b)
	a.CloseWrite()
	<-done
}
