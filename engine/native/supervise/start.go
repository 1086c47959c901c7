package supervise

import (
	"context"
	"errors"
	"time"

	"github.com/hoist-dev/hoist/engine/native/launch"
	"github.com/hoist-dev/hoist/engine/native/portproxy"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
	"github.com/hoist-dev/hoist/netplan"
)

// Start hands the prepared container r to its project's supervisor sup,
// which binds its published ports, starts it and owns it from then on,
// so it outlives this process; the ports bound are recorded for ps. Until
// the supervisor took it, an error undoes p. A container the supervisor
// runs already is left as it is.
func (s Supervisors) Start(ctx context.Context, sup *supervisor.Client, r *store.Record, p *launch.Prepared) error {
	var ports []portproxy.Binding
	var resolved []netplan.Binding
	if len(r.Ports) > 0 && p.Attachment.Addr != "" {
		var err error
		if ports, resolved, err = bindings(r, p.Attachment.Addr); err != nil {
			p.Undo(ctx)
			return err
		}
	}
	cfg, err := s.config(r, p.Spec, ports)
	if err != nil {
		p.Undo(ctx)
		return err
	}
	if err := sup.Run(ctx, cfg); err != nil {
		if errors.Is(err, supervisor.ErrExists) {
			return nil
		}
		p.Undo(ctx)
		return err
	}
	if len(ports) > 0 {
		st, err := sup.State(ctx, r.ID)
		if err != nil {
			return err
		}
		return s.recordPorts(r, resolved, st.Ports)
	}
	return nil
}

// config is what the supervisor needs to run r with spec.
func (s Supervisors) config(r *store.Record, spec runtime.Spec, ports []portproxy.Binding) (supervisor.ContainerConfig, error) {
	pol, err := supervisor.ParseRestartPolicy(r.Restart)
	if err != nil {
		return supervisor.ContainerConfig{}, err
	}
	sig, err := stopSignal(r)
	if err != nil {
		return supervisor.ContainerConfig{}, err
	}
	cfg := supervisor.ContainerConfig{
		ID: r.ID, Spec: spec, StateDir: s.Layout.StateDir(r.Project, r.ID),
		Restart: pol, Healthcheck: healthcheck(r.Healthcheck), Ports: ports, StopSignal: sig,
		LogMaxSize: r.Log.MaxSize, LogMaxFiles: r.Log.MaxFiles, LogNonBlocking: r.Log.NonBlocking,
		StdinOpen: r.StdinOpen,
	}
	if r.StopTimeout != nil {
		cfg.StopGrace = *r.StopTimeout
	}
	return cfg, nil
}

// healthcheck is the record's merged healthcheck for the supervisor.
func healthcheck(hc *store.Healthcheck) *supervisor.Healthcheck {
	if hc == nil {
		return nil
	}
	return &supervisor.Healthcheck{
		Test: hc.Test, Interval: time.Duration(hc.Interval), Timeout: time.Duration(hc.Timeout),
		StartPeriod: time.Duration(hc.StartPeriod), StartInterval: time.Duration(hc.StartInterval),
		Retries: int(hc.Retries),
	}
}
