package orchestrate

import (
	"context"

	"github.com/hoist-dev/hoist/engine"
)

// CheckStore is hoist system check: the engine verifies its local store
// and, with opts.Repair, removes what cannot be trusted.
func (o *Orchestrator) CheckStore(ctx context.Context, opts engine.CheckOptions) ([]engine.StoreProblem, error) {
	c, err := ability[engine.StoreChecker](o.Backend, "check its store")
	if err != nil {
		return nil, err
	}
	return c.CheckStore(ctx, opts)
}

// Boot is hoist system boot: the engine brings back, after the host
// booted, the containers that restart by policy.
func (o *Orchestrator) Boot(ctx context.Context) (engine.BootReport, error) {
	bt, err := ability[engine.Booter](o.Backend, "restore its containers at boot")
	if err != nil {
		return engine.BootReport{}, err
	}
	return bt.Boot(ctx)
}
