package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// Publications: the published ports of a container the supervisor does
// not run. hoist run (attached) is its container's parent and monitor,
// yet its ports are served here as every container's are, so a port is
// published one way.
//
// Publish binds the ports and answers with their addresses; the client
// starts the container, then names its init (pid and start time, or pid 0
// when it did not start) on the same connection, and the ports are served
// until that process exits, Unpublish, or shutdown. A client that goes
// away before naming it frees the ports at once. Each publication is
// recorded in published/<id>.json, so that a supervisor that adopts the
// project (its predecessor died) serves it again while the process lives.
const publishedDir = "published"

// publishedRecord is published/<id>.json: the bound ports (a random port
// resolved, so that adoption binds the same one) and the process whose
// life they follow.
type publishedRecord struct {
	ID        string              `json:"id"`
	Ports     []portproxy.Binding `json:"ports"`
	Pid       int                 `json:"pid"`
	StartTime uint64              `json:"start_time"`
}

// publication is one served publication.
type publication struct {
	once sync.Once
	end  chan struct{} // closed to end it
	done chan struct{} // closed once its ports are closed
}

// commitLine is the client's second line.
type commitLine struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
}

func (s *server) publishedPath(id string) string {
	return filepath.Join(s.dir, publishedDir, id+".json")
}

// publish serves the publish op on conn: bind, answer, read the commit
// line, serve (see Publications).
func (s *server) publish(ctx context.Context, conn net.Conn, br *bufio.Reader, enc *json.Encoder, req request) {
	s.unpublish(req.ID) // an earlier run's, ended but not yet seen to
	bound, err := s.proxy().Bind(req.Ports)
	if err != nil {
		_ = enc.Encode(errResponse(err))
		return
	}
	rec := publishedRecord{ID: req.ID, Ports: append([]portproxy.Binding(nil), req.Ports...)}
	var addrs []string
	for i, a := range bound.Addrs() {
		addrs = append(addrs, a.String())
		rec.Ports[i].HostPort = a.Port()
	}
	if err := enc.Encode(response{Ports: addrs}); err != nil {
		bound.Close()
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	line, err := br.ReadBytes('\n')
	stop()
	var c commitLine
	if err == nil {
		err = json.Unmarshal(line, &c)
	}
	var fd *os.File
	if err == nil && c.Pid > 0 {
		fd, err = pidfdOf(c.Pid, c.StartTime)
	}
	if err != nil || c.Pid <= 0 {
		bound.Close()
		if err != nil {
			err = fmt.Errorf("publish %s: %w", req.ID, err)
			_ = enc.Encode(errResponse(err))
			return
		}
		_ = enc.Encode(response{})
		return
	}
	rec.Pid, rec.StartTime = c.Pid, c.StartTime
	s.servePublished(rec, bound, fd)
	_ = enc.Encode(response{})
}

// servePublished serves bound until the process of fd exits or the
// publication ends, and records it meanwhile.
func (s *server) servePublished(rec publishedRecord, bound *portproxy.Bound, fd *os.File) {
	stopProxy, _ := serveBound(bound)
	pub := &publication{end: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.pubs[rec.ID] = pub
	s.mu.Unlock()
	path := s.publishedPath(rec.ID)
	if s.dir != "" {
		err := os.MkdirAll(filepath.Dir(path), 0o700)
		if err == nil {
			err = store.WriteJSON(path, rec)
		}
		if err != nil {
			s.logf("publish %s: %v", rec.ID, err)
		}
	}
	exited := make(chan struct{})
	go func() { _ = waitPidfd(fd); close(exited) }()
	go func() {
		defer close(pub.done)
		select {
		case <-exited:
		case <-pub.end:
		}
		fd.Close()
		stopProxy()
		s.mu.Lock()
		if s.pubs[rec.ID] == pub {
			delete(s.pubs, rec.ID)
			if s.dir != "" {
				_ = os.Remove(path)
			}
		}
		s.mu.Unlock()
	}()
}

// unpublish ends id's publication, if any, once its ports are closed.
func (s *server) unpublish(id string) {
	s.mu.Lock()
	pub := s.pubs[id]
	s.mu.Unlock()
	if pub == nil {
		return
	}
	pub.once.Do(func() { close(pub.end) })
	<-pub.done
}

// unpublishAll ends every publication (shutdown).
func (s *server) unpublishAll() {
	s.mu.Lock()
	var ids []string
	for id := range s.pubs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.unpublish(id)
	}
}

// adoptPublished serves again the publications a dead supervisor
// recorded, of processes that still run.
func (s *server) adoptPublished() {
	paths, _ := filepath.Glob(filepath.Join(s.dir, publishedDir, "*.json"))
	for _, p := range paths {
		var rec publishedRecord
		err := store.ReadJSON(p, &rec)
		var fd *os.File
		if err == nil {
			fd, err = pidfdOf(rec.Pid, rec.StartTime)
		}
		if err != nil {
			_ = os.Remove(p) // its process is gone
			continue
		}
		bound, err := s.proxy().Bind(rec.Ports)
		if err != nil {
			s.logf("adopt publication %s: %v", rec.ID, err)
			fd.Close()
			continue
		}
		s.servePublished(rec, bound, fd)
	}
}

// Publication is ports Publish bound, waiting for their container.
type Publication struct {
	conn net.Conn
	br   *bufio.Reader
	// Addrs are the bound host addresses, in the order of the bindings.
	Addrs []string
}

// Publish binds ports for container id, which the caller runs itself
// (see Publications); the caller then starts it and calls Commit, or
// Abort when it did not start.
func (c *Client) Publish(ctx context.Context, id string, ports []portproxy.Binding) (*Publication, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	p := &Publication{conn: conn, br: bufio.NewReader(conn)}
	resp, err := p.roundTrip(request{Op: "publish", ID: id, Ports: ports})
	if errors.Is(err, errUnknownOp) {
		err = fmt.Errorf("the project's supervisor (pid %d) is of an earlier version of hoist, which cannot publish the ports of a container it does not run; take the project down to replace it: %w", c.Pid, err)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	if len(resp.Ports) != len(ports) {
		conn.Close()
		return nil, fmt.Errorf("publish: %d ports bound for %d bindings", len(resp.Ports), len(ports))
	}
	p.Addrs = resp.Ports
	return p, nil
}

func (p *Publication) roundTrip(v any) (response, error) {
	if err := json.NewEncoder(p.conn).Encode(v); err != nil {
		return response{}, fmt.Errorf("supervisor publish: %w", err)
	}
	line, err := p.br.ReadBytes('\n')
	var resp response
	if err == nil {
		err = json.Unmarshal(line, &resp)
	}
	if err != nil {
		return response{}, fmt.Errorf("supervisor publish: %w", err)
	}
	return resp, resp.err()
}

// Commit names the container's init (its pid and start time): the ports
// are served until it exits.
func (p *Publication) Commit(pid int, start uint64) error {
	if p == nil {
		return nil
	}
	defer p.conn.Close()
	_ = p.conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := p.roundTrip(commitLine{Pid: pid, StartTime: start})
	return err
}

// Abort frees the ports, once they are closed: the container did not
// start.
func (p *Publication) Abort() {
	if p == nil {
		return
	}
	defer p.conn.Close()
	_ = p.conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = p.roundTrip(commitLine{})
}

// Unpublish ends the publication of container id, if any, once its ports
// are closed. A supervisor of an earlier version of hoist has none.
func (c *Client) Unpublish(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{Op: "unpublish", ID: id})
	if errors.Is(err, errUnknownOp) {
		return nil
	}
	return err
}
