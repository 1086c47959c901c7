package compose

import (
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/runspec"
)

// deploy resolves what an engine of many machines needs beyond the
// container: compose's deploy section, with docker stack's readings of
// it, and the service's secrets and configs as objects. res is the
// container's resolved resources, whose limits the scheduler counts too.
func (r *resolver) deploy(res runspec.Resources) runspec.Deploy {
	s := r.s
	d := runspec.Deploy{Mode: runspec.ModeReplicated, Replicas: s.GetScale()}
	d.Resources.Limits = runspec.ResourceAmounts{NanoCPUs: res.NanoCPUs, MemoryBytes: res.MemoryLimit}
	if res.PidsLimit != nil && *res.PidsLimit > 0 {
		d.Resources.Limits.Pids = *res.PidsLimit
	}
	d.Resources.Reservations.MemoryBytes = res.MemoryReservation
	d.Restart = r.deployRestart()
	d.Secrets, d.Configs = r.objectRefs()
	dc := s.Deploy
	if dc == nil {
		return d
	}
	switch m := runspec.DeployMode(dc.Mode); m {
	case "":
	case runspec.ModeReplicated, runspec.ModeGlobal, runspec.ModeReplicatedJob, runspec.ModeGlobalJob:
		d.Mode = m
	default:
		r.fail([]string{"deploy", "mode"}, "use replicated, global, replicated-job or global-job", "deploy.mode %q is not a mode", dc.Mode)
	}
	if len(dc.Labels) > 0 {
		d.Labels = maps.Clone(map[string]string(dc.Labels))
	}
	if rv := dc.Resources.Reservations; rv != nil {
		d.Resources.Reservations.NanoCPUs = nanoCPUs(float32(rv.NanoCPUs))
		for _, g := range rv.GenericResources {
			if g.DiscreteResourceSpec != nil {
				d.Resources.Generic = append(d.Resources.Generic, runspec.GenericResource{Kind: g.DiscreteResourceSpec.Kind, Value: g.DiscreteResourceSpec.Value})
			}
		}
		slices.SortStableFunc(d.Resources.Generic, func(a, b runspec.GenericResource) int {
			if a.Kind < b.Kind {
				return -1
			}
			if a.Kind > b.Kind {
				return 1
			}
			return 0
		})
	}
	d.Update = r.updatePolicy("update_config", dc.UpdateConfig)
	d.Rollback = r.updatePolicy("rollback_config", dc.RollbackConfig)
	d.Placement = runspec.Placement{
		Constraints:        slices.Clone(dc.Placement.Constraints),
		MaxReplicasPerNode: dc.Placement.MaxReplicas,
	}
	for _, p := range dc.Placement.Preferences {
		d.Placement.Preferences = append(d.Placement.Preferences, p.Spread)
	}
	switch dc.EndpointMode {
	case "", "vip", "dnsrr":
		d.EndpointMode = dc.EndpointMode
	default:
		r.fail([]string{"deploy", "endpoint_mode"}, "use vip or dnsrr", "deploy.endpoint_mode %q is not a mode", dc.EndpointMode)
	}
	return d
}

// deployRestart: deploy.restart_policy as written; without it, restart:
// read as docker stack reads it (always and unless-stopped are any), and
// nil when neither is set. Unlike docker stack, an explicit restart: "no"
// is condition none: stack drops it, and Swarm's default restarts
// everything.
func (r *resolver) deployRestart() *runspec.DeployRestart {
	s := r.s
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		out := &runspec.DeployRestart{}
		switch rp.Condition {
		case "", "any":
			out.Condition = runspec.RestartConditionAny
		case "none", "no":
			out.Condition = runspec.RestartConditionNone
		case "on-failure":
			out.Condition = runspec.RestartConditionOnFailure
		}
		// Resolve's restart() reports a bad condition.
		if rp.Delay != nil {
			v := time.Duration(*rp.Delay)
			out.Delay = &v
		}
		if rp.Window != nil {
			v := time.Duration(*rp.Window)
			out.Window = &v
		}
		if rp.MaxAttempts != nil {
			v := *rp.MaxAttempts
			out.MaxAttempts = &v
		}
		return out
	}
	if s.Restart == "" {
		return nil
	}
	name, count, _ := strings.Cut(s.Restart, ":")
	out := &runspec.DeployRestart{}
	switch name {
	case "no":
		out.Condition = runspec.RestartConditionNone
	case "always", "unless-stopped":
		out.Condition = runspec.RestartConditionAny
	case "on-failure":
		out.Condition = runspec.RestartConditionOnFailure
		if n, err := strconv.ParseUint(count, 10, 64); err == nil && n > 0 {
			out.MaxAttempts = &n
		}
	default:
		return nil // restart() reports it
	}
	return out
}

// updatePolicy reads update_config or rollback_config; parallelism is 1
// when the section leaves it out, as docker stack sends it.
func (r *resolver) updatePolicy(key string, u *types.UpdateConfig) *runspec.UpdatePolicy {
	if u == nil {
		return nil
	}
	out := &runspec.UpdatePolicy{
		Parallelism: 1, Delay: time.Duration(u.Delay), FailureAction: u.FailureAction,
		Monitor: time.Duration(u.Monitor), MaxFailureRatio: u.MaxFailureRatio, Order: u.Order,
	}
	if u.Parallelism != nil {
		out.Parallelism = *u.Parallelism
	}
	switch u.FailureAction {
	case "", "pause", "continue", "rollback":
	default:
		r.fail([]string{"deploy", key, "failure_action"}, "use pause, continue or rollback", "deploy.%s.failure_action %q is not an action", key, u.FailureAction)
	}
	if key == "rollback_config" && u.FailureAction == "rollback" {
		r.fail([]string{"deploy", key, "failure_action"}, "use pause or continue", "deploy.rollback_config.failure_action cannot be rollback")
	}
	switch u.Order {
	case "", "stop-first", "start-first":
	default:
		r.fail([]string{"deploy", key, "order"}, "use stop-first or start-first", "deploy.%s.order %q is not an order", key, u.Order)
	}
	return out
}

// objectRefs lists the service's secrets and configs as objects, with
// the targets mounts() gives their files (secrets under /run/secrets,
// configs under /, unless absolute). mounts() reports what is wrong
// with them.
func (r *resolver) objectRefs() (secrets, configs []runspec.ObjectRef) {
	p := r.p
	ref := func(dir string, fr types.FileReferenceConfig, obj types.FileObjectConfig) runspec.ObjectRef {
		target := fr.Target
		switch {
		case target == "":
			target = path.Join(dir, fr.Source)
		case !path.IsAbs(target):
			target = path.Join(dir, target)
		}
		o := runspec.ObjectRef{Key: fr.Source, Name: obj.Name, File: obj.File, Target: path.Clean(target), UID: fr.UID, GID: fr.GID, Mode: 0o444}
		if obj.File == "" {
			if v, ok := ObjectValue(p, obj); ok {
				o.Content = []byte(v)
			}
		}
		if fr.Mode != nil {
			o.Mode = os.FileMode(*fr.Mode) & os.ModePerm
		}
		if len(obj.Labels) > 0 {
			o.Labels = maps.Clone(map[string]string(obj.Labels))
		}
		return o
	}
	for _, sr := range r.s.Secrets {
		if obj, ok := p.Secrets[sr.Source]; ok {
			secrets = append(secrets, ref("/run/secrets", types.FileReferenceConfig(sr), types.FileObjectConfig(obj)))
		}
	}
	for _, cr := range r.s.Configs {
		if obj, ok := p.Configs[cr.Source]; ok {
			configs = append(configs, ref("/", types.FileReferenceConfig(cr), types.FileObjectConfig(obj)))
		}
	}
	return secrets, configs
}
