package swarm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/runspec"
)

// Progress is a service's state while Wait follows it.
type Progress = engine.ServiceProgress

// WaitOptions control Wait.
type WaitOptions struct {
	// Progress, when set, is called whenever the state changes.
	Progress func(Progress)
	// MaxFailures is how many tasks may fail before the wait gives up
	// (when no update is in progress to roll back); 0 is 3.
	MaxFailures int
}

// Wait blocks until the project's service converged: every desired task
// of the current spec runs (healthcheck passed), or, for a job, the
// completions are done. It fails with the tasks' errors (no such image,
// a non-zero exit, an unhealthy container) once MaxFailures tasks failed
// since it began, with ErrRolledBack when Swarm rolled an update back,
// and when ctx ends, with what was still missing.
func (e *Engine) Wait(ctx context.Context, project, service string, opts WaitOptions) error {
	name := Scope(project, service)
	start := time.Now()
	maxFail := opts.MaxFailures
	if maxFail <= 0 {
		maxFail = 3
	}
	var last Progress
	nodes := map[string]string{}
	for {
		st, err := e.observe(ctx, name, service)
		if err != nil {
			return err
		}
		if len(nodes) == 0 || st.unknownNode(nodes) {
			if nodes, err = e.nodeNames(ctx); err != nil {
				return err
			}
		}
		v := st.verdict(start, maxFail, nodes)
		if v.progress != last && opts.Progress != nil {
			opts.Progress(v.progress)
		}
		last = v.progress
		if v.done {
			return v.err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("service %s: %s after %s", service, v.progress, time.Since(start).Round(time.Second))
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		case <-time.After(e.poll()):
		}
	}
}

// observed is one look at a service and its tasks.
type observed struct {
	service string
	svc     swarm.Service
	tasks   []swarm.Task
}

func (e *Engine) observe(ctx context.Context, name, short string) (observed, error) {
	svcs, err := e.api.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("name", name)), Status: true})
	if err != nil {
		return observed{}, fmt.Errorf("list services: %w", err)
	}
	o := observed{service: short}
	found := false
	for _, s := range svcs {
		if s.Spec.Name == name {
			o.svc, found = s, true
		}
	}
	if !found {
		return observed{}, fmt.Errorf("service %s: %w", name, engine.ErrNotFound)
	}
	if o.tasks, err = e.api.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("service", o.svc.ID))}); err != nil {
		return observed{}, fmt.Errorf("list tasks of %s: %w", name, err)
	}
	return o, nil
}

func (o observed) unknownNode(nodes map[string]string) bool {
	for _, t := range o.tasks {
		if _, ok := nodes[t.NodeID]; t.NodeID != "" && !ok {
			return true
		}
	}
	return false
}

type verdict struct {
	progress Progress
	done     bool
	err      error
}

// verdict judges one observation; it is pure, so every case is tested
// without a swarm.
func (o observed) verdict(since time.Time, maxFail int, nodes map[string]string) verdict {
	svc := o.svc
	p := Progress{Service: o.service}
	if svc.UpdateStatus != nil {
		p.Update = string(svc.UpdateStatus.State)
	}
	if svc.ServiceStatus != nil {
		p.Desired = svc.ServiceStatus.DesiredTasks
	}
	var want string
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		want = cs.Labels[LabelTaskHash]
	}
	current := func(t swarm.Task) bool {
		cs := t.Spec.ContainerSpec
		return cs != nil && cs.Labels[LabelTaskHash] == want
	}
	realJob := svc.Spec.Mode.ReplicatedJob != nil || svc.Spec.Mode.GlobalJob != nil
	job := realJob || runspec.DeployMode(svc.Spec.Labels[LabelMode]).Job()
	p.Job = job
	var failed []swarm.Task
	stale, active, restarting := 0, 0, 0
	for _, t := range o.tasks {
		if !terminal(t.Status.State) && t.DesiredState != swarm.TaskStateShutdown {
			active++
		}
		// A task Swarm made to replace a failed one waits out the
		// restart delay with desired state ready. A global service's
		// desired count leaves its node out meanwhile, so the service
		// would look converged with no task on that node.
		if t.DesiredState == swarm.TaskStateReady && !terminal(t.Status.State) && current(t) {
			restarting++
		}
		if realJob && svc.JobStatus != nil && t.JobIteration != nil && t.JobIteration.Index != svc.JobStatus.JobIteration.Index {
			continue // an earlier run of the job
		}
		if job && !realJob && !current(t) {
			continue // a run of an earlier spec
		}
		switch t.Status.State {
		case swarm.TaskStateRunning:
			if t.DesiredState == swarm.TaskStateRunning && current(t) {
				p.Running++
			} else if t.DesiredState == swarm.TaskStateRunning {
				stale++
			}
		case swarm.TaskStateComplete:
			if job {
				p.Completed++
			}
		case swarm.TaskStateFailed, swarm.TaskStateRejected:
			if !t.Status.Timestamp.Before(since) || !t.Meta.CreatedAt.Before(since) {
				failed = append(failed, t)
			}
		}
	}
	sort.Slice(failed, func(i, j int) bool { return failed[i].Status.Timestamp.After(failed[j].Status.Timestamp) })
	if len(failed) > 0 {
		p.Problem = taskError(failed[0], o.service, nodes)
	} else {
		p.Problem = pendingProblem(o.tasks, o.service, nodes)
	}
	if job {
		if m := svc.Spec.Mode.ReplicatedJob; m != nil && m.TotalCompletions != nil {
			p.Desired = *m.TotalCompletions
		}
		if m := svc.Spec.Mode.Replicated; m != nil && m.Replicas != nil {
			p.Desired = *m.Replicas
		}
		if p.Desired > 0 && p.Completed >= p.Desired {
			return verdict{progress: p, done: true}
		}
	}
	if svc.Spec.Mode.Global != nil {
		p.Desired += uint64(restarting)
	}
	converged := !job && p.Desired > 0 && p.Running == p.Desired && stale == 0 && restarting == 0
	switch swarm.UpdateState(p.Update) {
	case swarm.UpdateStateRollbackCompleted:
		// Swarm says the rollback completed once it issued it: the wait
		// goes on until the previous spec runs again (or nothing more
		// will), so that the caller gets a settled service.
		if !converged && active > 0 {
			return verdict{progress: p}
		}
		// A rollback that ended before this wait began is the past of a
		// service that runs its spec now (a redeploy that changed
		// nothing after a failed one): it converged.
		if at := svc.UpdateStatus.CompletedAt; converged && at != nil && at.Before(since) {
			return verdict{progress: p, done: true}
		}
		msg := svc.UpdateStatus.Message
		if p.Problem != "" {
			msg += ": " + p.Problem
		}
		return verdict{progress: p, done: true, err: fmt.Errorf("service %s: %s: %w", o.service, msg, ErrRolledBack)}
	case swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
		msg := svc.UpdateStatus.Message
		if p.Problem != "" {
			msg += ": " + p.Problem
		}
		return verdict{progress: p, done: true, err: fmt.Errorf("service %s: update paused: %s: %w", o.service, msg, ErrTaskFailed)}
	case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
		return verdict{progress: p}
	}
	// Enough failures, or failures and nothing left that could still
	// run (a job, or restart_policy none or out of attempts).
	if len(failed) >= maxFail || (len(failed) > 0 && active == 0) {
		var lines []string
		for _, t := range failed[:min(len(failed), 3)] {
			lines = append(lines, taskError(t, o.service, nodes))
		}
		return verdict{progress: p, done: true, err: fmt.Errorf("service %s: %d tasks failed: %s: %w", o.service, len(failed), strings.Join(dedupe(lines), "; "), ErrTaskFailed)}
	}
	if converged {
		return verdict{progress: p, done: true}
	}
	return verdict{progress: p}
}

// terminal reports whether a task in state s will never run again.
func terminal(s swarm.TaskState) bool {
	switch s {
	case swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateShutdown, swarm.TaskStateOrphaned, swarm.TaskStateRemove:
		return true
	}
	return false
}

// taskError is one line about a failed task: where it ran, what Swarm
// said, and the exit code when there is one.
func taskError(t swarm.Task, service string, nodes map[string]string) string {
	who := fmt.Sprintf("%s.%d", service, t.Slot)
	if t.Slot == 0 {
		who = service
	}
	if n := nodes[t.NodeID]; n != "" {
		who += "@" + n
	}
	msg := t.Status.Err
	if msg == "" {
		msg = t.Status.Message
	}
	if c := t.Status.ContainerStatus; c != nil && c.ExitCode != 0 && !strings.Contains(msg, fmt.Sprintf("(%d)", c.ExitCode)) {
		msg += fmt.Sprintf(" (exit code %d)", c.ExitCode)
	}
	return fmt.Sprintf("%s %s: %s", who, t.Status.State, msg)
}

// pendingProblem is why a task waits to be scheduled (no suitable node,
// not enough resources), when one does.
func pendingProblem(tasks []swarm.Task, service string, nodes map[string]string) string {
	for _, t := range tasks {
		if t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStatePending && t.Status.Err != "" {
			return taskError(t, service, nodes)
		}
	}
	return ""
}

func dedupe(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// IsRolledBack reports whether err says an update was rolled back.
func IsRolledBack(err error) bool { return errors.Is(err, ErrRolledBack) }
