package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// The stdin call (hoist attach): after the response line, the client's
// bytes go to the container's input until the client closes. The input
// stays open when the client goes (a detach), as Docker keeps it.

// errNoInput is the answer for a container whose stdin is not open.
var errNoInput = errors.New("the container's stdin is not open (it needs stdin_open or tty)")

// inputTask is a task that holds its container's input: the write end of
// an open stdin, or a terminal's master. An adopted one has none.
type inputTask interface {
	Input() *os.File
}

// Input is the open stdin's write end, else the terminal's master.
func (t *runTask) Input() *os.File {
	if t.stdin != nil {
		return t.stdin
	}
	return t.console
}

func (s *server) attachInput(ctx context.Context, conn net.Conn, br *bufio.Reader, enc *json.Encoder, id string) {
	s.mu.Lock()
	c, ok := s.ctrs[id]
	var in *os.File
	if ok && c.cur != nil {
		if it, isInput := c.cur.(inputTask); isInput {
			in = it.Input()
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		_ = enc.Encode(errResponse(fmt.Errorf("%w: %s", ErrNotFound, id)))
		return
	case in == nil:
		_ = enc.Encode(errResponse(errNoInput))
		return
	}
	if err := enc.Encode(response{}); err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_, _ = io.Copy(in, br)
}

// Stdin copies r to the container's input until r ends or ctx does; the
// input stays open.
func (c *Client) Stdin(ctx context.Context, id string, r io.Reader) error {
	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(request{Op: "stdin", ID: id}); err != nil {
		return fmt.Errorf("supervisor stdin: %w", err)
	}
	var resp response
	stopRead := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err = json.NewDecoder(conn).Decode(&resp)
	stopRead()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("supervisor stdin: %w", err)
	}
	if err := resp.err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, r)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
