package portproxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// udpForwarder relays datagrams: each client address gets a session, a
// connected socket towards the target whose replies go back to that
// client from the published port.
type udpForwarder struct {
	p      *Proxy
	conn   *net.UDPConn
	target netip.AddrPort

	mu       sync.Mutex
	closed   bool
	sessions map[netip.AddrPort]*udpSession
	wg       sync.WaitGroup
}

type udpSession struct {
	client netip.AddrPort
	up     *net.UDPConn
	last   atomic.Int64 // unix nanoseconds of the last datagram either way
}

func (s *udpSession) touch() { s.last.Store(time.Now().UnixNano()) }

func (f *udpForwarder) serve() {
	defer f.wg.Wait()
	buf := make([]byte, 65535)
	for {
		n, client, err := f.conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			f.p.Logf("portproxy: read on %s: %v", f.conn.LocalAddr(), err)
			continue
		}
		s := f.session(netip.AddrPortFrom(client.Addr().Unmap(), client.Port()))
		if s == nil {
			continue
		}
		s.touch()
		if _, err := s.up.Write(buf[:n]); err != nil {
			f.p.Logf("portproxy: %s -> %s: %v", client, f.target, err)
		}
	}
}

// session finds or starts client's session, ending the least recently
// used one when the table is full; nil when it cannot.
func (f *udpForwarder) session(client netip.AddrPort) *udpSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	if s, ok := f.sessions[client]; ok {
		return s
	}
	if len(f.sessions) >= f.p.MaxUDPSessions {
		var lru *udpSession
		for _, s := range f.sessions {
			if lru == nil || s.last.Load() < lru.last.Load() {
				lru = s
			}
		}
		delete(f.sessions, lru.client)
		lru.up.Close()
	}
	up, err := f.dial()
	if err != nil {
		f.p.Logf("portproxy: %s -> %s: %v", client, f.target, err)
		return nil
	}
	s := &udpSession{client: client, up: up}
	s.touch()
	f.sessions[client] = s
	f.wg.Go(func() { f.replies(s) })
	return s
}

func (f *udpForwarder) dial() (*net.UDPConn, error) {
	if f.p.Dial == nil {
		return net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(f.target))
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.p.DialTimeout)
	defer cancel()
	c, err := f.p.Dial(ctx, "udp", f.target)
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

// replies relays the target's datagrams back to the client until the
// session is idle for UDPIdleTimeout or closed.
func (f *udpForwarder) replies(s *udpSession) {
	defer f.drop(s)
	buf := make([]byte, 65535)
	idle := f.p.UDPIdleTimeout
	for {
		s.up.SetReadDeadline(time.Unix(0, s.last.Load()).Add(idle))
		n, err := s.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, s.last.Load())) < idle {
				continue // the client spoke meanwhile
			}
			return
		}
		s.touch()
		if _, err := f.conn.WriteToUDPAddrPort(buf[:n], s.client); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			f.p.Logf("portproxy: %s -> %s: %v", f.target, s.client, err)
		}
	}
}

// drop ends s, if it is still in the table.
func (f *udpForwarder) drop(s *udpSession) {
	f.mu.Lock()
	if f.sessions[s.client] == s {
		delete(f.sessions, s.client)
	}
	f.mu.Unlock()
	s.up.Close()
}

func (f *udpForwarder) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, s := range f.sessions {
		s.up.Close()
	}
}
