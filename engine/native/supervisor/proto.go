package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/hoist-dev/hoist/engine/native/portproxy"
)

// The protocol: a client connects to the socket, writes one request as a
// JSON line and reads one response line. A subscribe response is followed
// by event lines until either side closes; a publish response by the
// client's commit line and a last response (publish.go). A connection
// carries one call.

type request struct {
	Op      string           `json:"op"`
	ID      string           `json:"id,omitempty"`
	Config  *ContainerConfig `json:"config,omitempty"`
	Timeout time.Duration    `json:"timeout,omitempty"`
	Signal  syscall.Signal   `json:"signal,omitempty"`
	// Ports are publish's bindings.
	Ports []portproxy.Binding `json:"ports,omitempty"`
}

type response struct {
	Error string           `json:"error,omitempty"`
	Kind  string           `json:"kind,omitempty"` // not_found, exists, unknown_op
	State *ContainerState  `json:"state,omitempty"`
	List  []ContainerState `json:"list,omitempty"`
	Pid   int              `json:"pid,omitempty"`
	// Ports are the addresses publish bound.
	Ports []string `json:"ports,omitempty"`
}

func errResponse(err error) response {
	r := response{Error: err.Error()}
	switch {
	case errors.Is(err, ErrNotFound):
		r.Kind = "not_found"
	case errors.Is(err, ErrExists):
		r.Kind = "exists"
	case errors.Is(err, errUnknownOp):
		r.Kind = "unknown_op"
	}
	return r
}

// errUnknownOp is the answer to an op the supervisor does not know: one
// of an earlier version of hoist, still running a project across an
// upgrade, knows fewer (it answers with this message and no kind).
var errUnknownOp = errors.New("unknown op")

func (r response) err() error {
	if r.Error == "" {
		return nil
	}
	var kind error
	switch r.Kind {
	case "not_found":
		kind = ErrNotFound
	case "exists":
		kind = ErrExists
	case "unknown_op":
		kind = errUnknownOp
	default:
		if strings.HasPrefix(r.Error, "unknown op ") {
			kind = errUnknownOp
			break
		}
		return errors.New(r.Error)
	}
	return &remoteError{msg: r.Error, kind: kind}
}

type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// serve answers connections until ctx ends or a shutdown request.
func (s *server) serve(ctx context.Context, ln net.Listener, shutdown func()) {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go s.handle(ctx, conn, shutdown)
	}
}

func (s *server) handle(ctx context.Context, conn net.Conn, shutdown func()) {
	defer conn.Close()
	select {
	case s.busy <- struct{}{}:
	default:
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req request
	enc := json.NewEncoder(conn)
	if err := json.Unmarshal(line, &req); err != nil {
		_ = enc.Encode(errResponse(err))
		return
	}
	// A client that goes away cancels its call.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var resp response
	switch req.Op {
	case "ping":
		resp.Pid = pidSelf()
	case "run":
		if req.Config == nil {
			resp = response{Error: "run: no config"}
		} else if err := s.run(cctx, *req.Config); err != nil {
			resp = errResponse(err)
		}
	case "stop":
		if err := s.stop(cctx, req.ID, req.Timeout); err != nil {
			resp = errResponse(err)
		}
	case "kill":
		if err := s.kill(req.ID, req.Signal); err != nil {
			resp = errResponse(err)
		}
	case "remove":
		if err := s.remove(cctx, req.ID); err != nil {
			resp = errResponse(err)
		}
	case "state":
		st, err := s.state(req.ID)
		if err != nil {
			resp = errResponse(err)
		} else {
			resp.State = &st
		}
	case "list":
		resp.List = s.list()
	case "subscribe":
		s.stream(cctx, conn, br, enc)
		return
	case "stdin":
		s.attachInput(cctx, conn, br, enc, req.ID)
		return
	case "publish":
		s.publish(cctx, conn, br, enc, req)
		return
	case "unpublish":
		s.unpublish(req.ID)
	case "shutdown":
		if err := s.shutdown(cctx); err != nil {
			resp = errResponse(err)
		}
		_ = enc.Encode(resp)
		shutdown()
		return
	default:
		resp = errResponse(fmt.Errorf("%w %s", errUnknownOp, req.Op))
	}
	_ = enc.Encode(resp)
}

// stream sends events until the client closes the connection.
func (s *server) stream(ctx context.Context, conn net.Conn, br *bufio.Reader, enc *json.Encoder) {
	ch, unsub := s.subscribe()
	defer unsub()
	if err := enc.Encode(response{}); err != nil {
		return
	}
	gone := make(chan struct{})
	go func() { _, _ = br.ReadByte(); close(gone) }()
	for {
		select {
		case e := <-ch:
			if err := enc.Encode(e); err != nil {
				return
			}
		case <-gone:
			return
		case <-ctx.Done():
			return
		}
	}
}
