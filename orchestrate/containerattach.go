package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/hoist-dev/hoist/engine"
)

// DefaultDetachKeys is Docker's detach sequence.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// AttachContainer is hoist attach: s connected to c's main process until
// it stops (its exit code) or the user types the detach keys (detached,
// code 0; the container runs on) or ctx ends.
func (o *Orchestrator) AttachContainer(ctx context.Context, c engine.Container, s engine.AttachStreams, detachKeys string) (code int, detached bool, err error) {
	at, err := ability[engine.Attacher](o.Backend, "attach to containers")
	if err != nil {
		return 0, false, err
	}
	keys, err := ParseDetachKeys(detachKeys)
	if err != nil {
		return 0, false, err
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var dr *detachReader
	if s.Stdin != nil {
		dr = &detachReader{r: s.Stdin, keys: keys, detach: cancel}
		s.Stdin = dr
	}
	code, err = at.Attach(actx, c.ID, s)
	if err != nil && dr != nil && dr.seen() && ctx.Err() == nil {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("attach to %s: %w", c.Name, err)
	}
	return code, false, nil
}

// Signal sends sig to c's main process (attach --sig-proxy).
func (o *Orchestrator) Signal(ctx context.Context, c engine.Container, sig string) error {
	k, err := ability[engine.Killer](o.Backend, "send signals")
	if err != nil {
		return err
	}
	return k.Kill(ctx, c.ID, sig)
}

// ParseDetachKeys reads Docker's detach key format: comma-separated keys,
// each a character or ctrl-<char> (ctrl-a ... ctrl-z, ctrl-@, ctrl-[,
// ctrl-\, ctrl-], ctrl-^, ctrl-_).
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		s = DefaultDetachKeys
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		if c, ok := strings.CutPrefix(k, "ctrl-"); ok && len(c) == 1 {
			ch := c[0]
			switch {
			case ch >= 'a' && ch <= 'z':
				out = append(out, ch-'a'+1)
				continue
			case strings.IndexByte("@[\\]^_", ch) >= 0:
				out = append(out, ch-'@')
				continue
			}
		} else if len(k) == 1 {
			out = append(out, k[0])
			continue
		}
		return nil, fmt.Errorf("--detach-keys %q: %q is no key; use characters or ctrl-<char>, comma-separated, as in ctrl-p,ctrl-q", s, k)
	}
	return out, nil
}

// detachReader passes input through until the detach keys come, in a
// row: then it ends the attach. Bytes that start the sequence are held
// back until it breaks off, as Docker does, so they never reach the
// container when the user detaches.
type detachReader struct {
	r      io.Reader
	keys   []byte
	detach func()

	mu      sync.Mutex
	held    []byte // a prefix of keys read so far
	pending []byte // bytes to hand out
	err     error  // the input's end, once pending is out
	matched bool   // the keys came: detach once pending is out
	done    bool
}

var errDetached = errors.New("detached")

func (d *detachReader) seen() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

func (d *detachReader) Read(p []byte) (int, error) {
	for {
		d.mu.Lock()
		if d.done {
			d.mu.Unlock()
			return 0, errDetached
		}
		if len(d.pending) > 0 {
			n := copy(p, d.pending)
			d.pending = d.pending[n:]
			d.mu.Unlock()
			return n, nil
		}
		if d.matched {
			d.done = true
			d.mu.Unlock()
			d.detach()
			return 0, errDetached
		}
		if d.err != nil {
			d.mu.Unlock()
			return 0, d.err
		}
		d.mu.Unlock()
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		d.mu.Lock()
		for _, b := range buf[:n] {
			if b == d.keys[len(d.held)] {
				d.held = append(d.held, b)
				if len(d.held) == len(d.keys) {
					d.held, d.matched = d.held[:0], true
					break
				}
				continue
			}
			d.pending = append(d.pending, d.held...)
			d.held = d.held[:0]
			if b == d.keys[0] {
				d.held = append(d.held, b)
				continue
			}
			d.pending = append(d.pending, b)
		}
		if err != nil && !d.matched {
			// What was held back of an unfinished sequence is input.
			d.pending, d.held, d.err = append(d.pending, d.held...), d.held[:0], err
		}
		d.mu.Unlock()
	}
}
