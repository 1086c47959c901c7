package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"time"
)

// Files in a project's supervisor dir.
const (
	SocketFile = "supervisor.sock"
	InfoFile   = "supervisor.json"
	LockFile   = "lock"
	LogFileSup = "supervisor.log"
)

// Client talks to a project's supervisor. Each call uses its own
// connection, so a Client is safe for concurrent use.
type Client struct {
	dir string
	// Pid is the supervisor's pid.
	Pid int
}

// Dir is the supervisor's directory.
func (c *Client) Dir() string { return c.dir }

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(c.dir, SocketFile))
	if err != nil {
		return nil, fmt.Errorf("connect to supervisor: %w", err)
	}
	return conn, nil
}

// call sends req and decodes the response; ctx bounds the whole call.
func (c *Client) call(ctx context.Context, req request) (response, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return response{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return response{}, fmt.Errorf("supervisor %s: %w", req.Op, err)
	}
	var resp response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return response{}, fmt.Errorf("supervisor %s: %w", req.Op, err)
	}
	return resp, resp.err()
}

func (c *Client) ping(ctx context.Context) (int, error) {
	resp, err := c.call(ctx, request{Op: "ping"})
	return resp.Pid, err
}

// Run starts a container and supervises it; it returns once the container
// runs (its ports bound), or with the start error. A container that ended
// (exited or stopped) may be run again with a new config.
func (c *Client) Run(ctx context.Context, cfg ContainerConfig) error {
	_, err := c.call(ctx, request{Op: "run", Config: &cfg})
	return err
}

// Stop disables the container's restarts, sends its stop signal, kills
// it after timeout (negative: its StopGrace) and returns once it exited.
func (c *Client) Stop(ctx context.Context, id string, timeout time.Duration) error {
	_, err := c.call(ctx, request{Op: "stop", ID: id, Timeout: timeout})
	return err
}

// Kill sends sig to the container's init. It is not a Stop: the restart
// policy applies to the exit.
func (c *Client) Kill(ctx context.Context, id string, sig syscall.Signal) error {
	_, err := c.call(ctx, request{Op: "kill", ID: id, Signal: sig})
	return err
}

// Remove kills the container if it runs and forgets it. Its state dir
// and logs stay.
func (c *Client) Remove(ctx context.Context, id string) error {
	_, err := c.call(ctx, request{Op: "remove", ID: id})
	return err
}

// State reports one container.
func (c *Client) State(ctx context.Context, id string) (ContainerState, error) {
	resp, err := c.call(ctx, request{Op: "state", ID: id})
	if err != nil {
		return ContainerState{}, err
	}
	return *resp.State, nil
}

// List reports every supervised container.
func (c *Client) List(ctx context.Context) ([]ContainerState, error) {
	resp, err := c.call(ctx, request{Op: "list"})
	return resp.List, err
}

// Shutdown stops every container and ends the supervisor.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := c.call(ctx, request{Op: "shutdown"})
	return err
}

// Subscribe streams events until ctx ends; the channel is closed then,
// or when the supervisor goes away. Events are only those after the
// call returns. A consumer that falls 256 events behind loses events.
func (c *Client) Subscribe(ctx context.Context) (<-chan Event, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(conn).Encode(request{Op: "subscribe"}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("supervisor subscribe: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReader(conn))
	var resp response
	if err := dec.Decode(&resp); err != nil {
		conn.Close()
		return nil, fmt.Errorf("supervisor subscribe: %w", err)
	}
	ch := make(chan Event, 64)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	go func() {
		defer close(ch)
		defer stop()
		defer conn.Close()
		for {
			var e Event
			if err := dec.Decode(&e); err != nil {
				return
			}
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
