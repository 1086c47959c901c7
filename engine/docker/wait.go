package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/hoist-dev/hoist/engine"
)

// waitEvents are the container events after which the state may have moved
// towards (or away from) a wait condition. Exec events, which a healthcheck
// produces at every interval, are left out.
var waitEvents = []string{"start", "restart", "die", "oom", "kill", "stop", "pause", "unpause", "health_status", "destroy"}

// Wait blocks until the container reaches cond. It is event driven: it
// subscribes to the container's events first and only then inspects, so a
// change between the two is never missed, and it inspects again after each
// event instead of polling.
func (b *Backend) Wait(ctx context.Context, id string, cond engine.WaitCondition) (engine.Container, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("container", id))
	for _, e := range waitEvents {
		args.Add("event", e)
	}
	// Since makes the daemon replay events from the moment of the request,
	// closing the window between sending it and the subscription taking
	// effect on the daemon's side.
	msgs, errs := b.api.Events(ctx, events.ListOptions{Since: eventTime(time.Now()), Filters: args})
	for {
		info, err := b.api.ContainerInspect(ctx, id)
		if err != nil {
			return engine.Container{}, fmt.Errorf("wait for container %q to be %s: %w", id, cond, mapErr(err))
		}
		c := containerFromInspect(info)
		done, err := reached(c, info, cond)
		if done || err != nil {
			return c, err
		}
		select {
		case <-msgs:
		case err, ok := <-errs:
			if !ok || err == nil {
				err = errors.New("event stream closed")
			}
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return c, fmt.Errorf("wait for container %q to be %s: %w", c.Name, cond, err)
		case <-ctx.Done():
			return c, fmt.Errorf("wait for container %q to be %s: %w", c.Name, cond, ctx.Err())
		}
	}
}

// WaitStop returns at the container's next exit, told by its die event
// (which a restart policy's restart follows), or at once when it is not
// running. As Wait, it subscribes first and inspects after, so no exit
// between the two is missed.
func (b *Backend) WaitStop(ctx context.Context, id string) (engine.Container, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("container", id),
		filters.Arg("event", "die"), filters.Arg("event", "destroy"))
	msgs, errs := b.api.Events(ctx, events.ListOptions{Since: eventTime(time.Now()), Filters: args})
	info, err := b.api.ContainerInspect(ctx, id)
	if err != nil {
		return engine.Container{}, fmt.Errorf("wait for container %q to stop: %w", id, mapErr(err))
	}
	c := containerFromInspect(info)
	if c.State != engine.StateRunning && c.State != engine.StatePaused {
		return c, nil
	}
	for {
		select {
		case m := <-msgs:
			if m.Action == events.ActionDestroy {
				return c, fmt.Errorf("wait for container %q to stop: it was removed: %w", c.Name, engine.ErrNotFound)
			}
			// What follows the exit (a restart, a removal) may already
			// show: the exit code is the event's.
			if info, err := b.api.ContainerInspect(ctx, id); err == nil {
				c = containerFromInspect(info)
			} else {
				c.State = engine.StateExited
			}
			if code, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
				c.ExitCode = code
			}
			return c, nil
		case err, ok := <-errs:
			if !ok || err == nil {
				err = errors.New("event stream closed")
			}
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return c, fmt.Errorf("wait for container %q to stop: %w", c.Name, err)
		case <-ctx.Done():
			return c, fmt.Errorf("wait for container %q to stop: %w", c.Name, ctx.Err())
		}
	}
}

// eventTime formats t the way the events API takes since/until.
func eventTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// reached reports whether c satisfies cond, or an error when it can no
// longer do so without an outside action (it exited, or is unhealthy).
func reached(c engine.Container, info container.InspectResponse, cond engine.WaitCondition) (bool, error) {
	stopped := c.State == engine.StateExited || c.State == engine.StateDead
	switch cond {
	case engine.WaitExited:
		return stopped, nil
	case engine.WaitRunning:
		if stopped {
			return false, fmt.Errorf("container %q exited with code %d while waiting for it to run", c.Name, c.ExitCode)
		}
		return c.State == engine.StateRunning, nil
	case engine.WaitHealthy:
		if stopped {
			return false, fmt.Errorf("container %q exited with code %d while waiting for it to be healthy%s", c.Name, c.ExitCode, lastHealthOutput(info, ": last healthcheck: "))
		}
		if c.State != engine.StateRunning {
			return false, nil
		}
		switch c.Health {
		case "":
			return true, nil // no healthcheck: running is as good as it gets
		case engine.HealthHealthy:
			return true, nil
		case engine.HealthUnhealthy:
			return false, fmt.Errorf("container %q is unhealthy%s", c.Name, lastHealthOutput(info, ": "))
		}
		return false, nil
	}
	return false, fmt.Errorf("unknown wait condition %d", cond)
}

// lastHealthOutput returns prefix plus the output of the latest health
// probe, or "" when there is none.
func lastHealthOutput(info container.InspectResponse, prefix string) string {
	if info.State == nil || info.State.Health == nil || len(info.State.Health.Log) == 0 {
		return ""
	}
	last := info.State.Health.Log[len(info.State.Health.Log)-1]
	if last == nil {
		return ""
	}
	out := strings.TrimSpace(last.Output)
	if out == "" {
		out = "exit code " + strconv.Itoa(last.ExitCode)
	}
	return prefix + out
}

// containerFromInspect fills an engine.Container from an inspect answer.
func containerFromInspect(info container.InspectResponse) engine.Container {
	c := engine.Container{ID: info.ID, Name: strings.TrimPrefix(info.Name, "/"), ImageID: info.Image}
	if info.Config != nil {
		c.Image = info.Config.Image
		c.Labels = info.Config.Labels
		c.Project = c.Labels[engine.LabelProject]
		c.Service = c.Labels[engine.LabelService]
		c.ConfigHash = c.Labels[engine.LabelConfigHash]
		c.OneOff = strings.EqualFold(c.Labels[engine.LabelOneOff], "true")
		if n, err := strconv.Atoi(c.Labels[engine.LabelNumber]); err == nil {
			c.Number = n
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, info.Created); err == nil {
		c.Created = t
	}
	if st := info.State; st != nil {
		c.State = string(st.Status)
		c.ExitCode = st.ExitCode
		if st.Health != nil && st.Health.Status != "none" {
			c.Health = string(st.Health.Status)
		}
	}
	if ns := info.NetworkSettings; ns != nil {
		for port, bindings := range ns.Ports {
			for _, pb := range bindings {
				hp, err := strconv.ParseUint(pb.HostPort, 10, 16)
				if err != nil {
					continue
				}
				c.Ports = append(c.Ports, engine.PortBinding{HostIP: pb.HostIP, HostPort: uint16(hp), ContainerPort: uint16(port.Int()), Protocol: port.Proto()})
			}
		}
		sortPorts(c.Ports)
		for name := range ns.Networks {
			c.Networks = append(c.Networks, name)
		}
		sortStrings(c.Networks)
	}
	return c
}
