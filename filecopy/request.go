package filecopy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hoist-dev/hoist/engine"
)

// Request is one hoist cp.
type Request struct {
	// Source and Destination: exactly one is "SERVICE:PATH", the other a
	// host path or "-" (a tar stream on Stdin or Stdout).
	Source, Destination string
	// Index picks the service's container of that number; 0 copies into
	// every container of the service, or from the first.
	Index int
	Options
	Stdin  io.Reader
	Stdout io.Writer
}

// Service is the service the request names, and whether the copy goes
// into its containers (else it comes from one).
func (r Request) Service() (service string, into bool, err error) {
	if r.Source == "" || r.Destination == "" {
		return "", false, errors.New("source and destination can not be empty")
	}
	src, _ := SplitArg(r.Source)
	dst, _ := SplitArg(r.Destination)
	switch {
	case src != "" && dst != "":
		return "", false, errors.New("copying between services is not supported")
	case src != "":
		return src, false, nil
	case dst != "":
		return dst, true, nil
	}
	return "", false, errors.New("name a service's path as SERVICE:PATH in the source or the destination")
}

// Run copies as r says between the host and the service's containers cs
// (listed with or without one-off containers, as cp --all says).
func Run(ctx context.Context, c engine.Copier, cs []engine.Container, r Request) error {
	svc, into, err := r.Service()
	if err != nil {
		return err
	}
	var targets []engine.Container
	for _, ct := range cs {
		if ct.Service != svc || (r.Index > 0 && (ct.OneOff || ct.Number != r.Index)) {
			continue
		}
		targets = append(targets, ct)
	}
	if len(targets) == 0 {
		if r.Index > 0 {
			return fmt.Errorf("service %q has no container number %d", svc, r.Index)
		}
		return fmt.Errorf("no container found for service %q", svc)
	}
	if !into {
		// The first: cs is in service and number order.
		_, p := SplitArg(r.Source)
		return FromContainer(ctx, c, targets[0].ID, p, r.Destination, r.Stdout, r.Options)
	}
	_, p := SplitArg(r.Destination)
	var stdin []byte
	if r.Source == "-" && len(targets) > 1 {
		// One stream, several containers.
		if stdin, err = io.ReadAll(r.Stdin); err != nil {
			return err
		}
	}
	for _, ct := range targets {
		in := r.Stdin
		if stdin != nil {
			in = bytes.NewReader(stdin)
		}
		if err := ToContainer(ctx, c, ct.ID, r.Source, in, p, r.Options); err != nil {
			return fmt.Errorf("copy into %s: %w", ct.Name, err)
		}
	}
	return nil
}
