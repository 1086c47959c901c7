package escape

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// hostLo is a listener on the host's 127.0.0.1, the target of the
// tcp_hostlo case: only a process in the host's network namespace can
// reach it. A way in its own namespace reaching it has the host's
// loopback services (and ports it could bind) in reach; Docker's
// containers and RUN steps have not. Each client says its way's nonce
// first, so the verdict is the host's record of who connected, whatever
// the probe saw.
type hostLo struct {
	ln net.Listener
	mu sync.Mutex
	// from lists each connection's first line (the probe's -nonce).
	from []string
}

func startHostLo() (*hostLo, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hostLo{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				h.mu.Lock()
				h.from = append(h.from, strings.TrimSpace(line))
				h.mu.Unlock()
				fmt.Fprintln(c, "hello from the host's loopback")
			}()
		}
	}()
	return h, nil
}

func (h *hostLo) addr() string { return h.ln.Addr().String() }

func (h *hostLo) close() { h.ln.Close() }

// reachedFrom lists the ways whose probes connected, by their nonces;
// "?" for a connection that did not say.
func (h *hostLo) reachedFrom(b *battery) []way {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []way
	for _, n := range h.from {
		w, ok := strings.CutPrefix(n, b.nonce+".")
		if !ok {
			w = "?"
		}
		out = append(out, way(w))
	}
	return out
}
