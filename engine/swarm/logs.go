package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/pkg/stdcopy"
	"golang.org/x/sync/errgroup"

	"github.com/hoist-dev/hoist/engine"
)

// Logs copies the output of the project's services (all of them when
// services is empty) from every node, each line prefixed with the task
// it comes from as "service.slot@node | " (or "service@node" for a global
// service's task). Lines of different services interleave whole. With
// Follow it runs until ctx ends or every stream closes.
func (e *Engine) Logs(ctx context.Context, project string, services []string, opts engine.LogOptions, stdout, stderr io.Writer) error {
	svcs, err := e.projectServices(ctx, project)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	names := &taskNames{e: e, project: project}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	n := 0
	for _, s := range svcs {
		short := strings.TrimPrefix(s.Spec.Name, project+"_")
		if len(want) > 0 && !want[short] {
			continue
		}
		n++
		tty := s.Spec.TaskTemplate.ContainerSpec != nil && s.Spec.TaskTemplate.ContainerSpec.TTY
		id := s.ID
		g.Go(func() error {
			rc, err := e.api.ServiceLogs(ctx, id, container.LogsOptions{
				ShowStdout: true, ShowStderr: true, Details: true,
				Follow: opts.Follow, Tail: opts.Tail, Since: opts.Since, Until: opts.Until, Timestamps: opts.Timestamps,
			})
			if err != nil {
				return fmt.Errorf("logs of %s: %w", short, err)
			}
			defer rc.Close()
			out := &prefixer{mu: &mu, w: stdout, names: names, service: short, timestamps: opts.Timestamps, ctx: ctx}
			errw := &prefixer{mu: &mu, w: stderr, names: names, service: short, timestamps: opts.Timestamps, ctx: ctx}
			if tty {
				_, err = io.Copy(out, rc)
			} else {
				out.framed, errw.framed = true, true
				_, err = stdcopy.StdCopy(out, errw, rc)
			}
			out.flush()
			errw.flush()
			if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("logs of %s: %w", short, err)
			}
			return nil
		})
	}
	if len(want) > 0 && n < len(want) {
		return fmt.Errorf("logs: no service %s in project %s: %w", strings.Join(missing(want, svcs, project), ", "), project, engine.ErrNotFound)
	}
	return g.Wait()
}

func missing(want map[string]bool, svcs []swarm.Service, project string) []string {
	have := map[string]bool{}
	for _, s := range svcs {
		have[strings.TrimPrefix(s.Spec.Name, project+"_")] = true
	}
	var out []string
	for w := range want {
		if !have[w] {
			out = append(out, w)
		}
	}
	return out
}

// prefixer writes whole lines, each with its task's prefix in place of
// the details the daemon puts before the message.
type prefixer struct {
	mu         *sync.Mutex
	w          io.Writer
	names      *taskNames
	service    string
	timestamps bool
	// framed: writes come from stdcopy, one message per write (what the
	// docker CLI relies on too); otherwise (a TTY's raw stream) lines are
	// cut at newlines.
	framed bool
	ctx    context.Context
	buf    []byte
}

func (p *prefixer) Write(b []byte) (int, error) {
	if p.framed {
		// One frame is one log message, with its details; a message
		// without a newline (output that ended without one) still gets
		// a line of its own.
		msg := b
		if len(msg) == 0 || msg[len(msg)-1] != '\n' {
			msg = append(slices.Clip(msg), '\n')
		}
		if err := p.line(msg); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if err := p.line(p.buf[:i+1]); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
}

func (p *prefixer) flush() {
	if len(p.buf) > 0 {
		p.line(append(p.buf, '\n'))
		p.buf = nil
	}
}

// line is "[timestamp ]details message\n", details being comma-separated
// URL-encoded key=value pairs with the node, service and task IDs.
func (p *prefixer) line(l []byte) error {
	s := string(l)
	var ts string
	if p.timestamps {
		ts, s, _ = strings.Cut(s, " ")
	}
	details, msg, _ := strings.Cut(s, " ")
	kv := parseDetails(details)
	prefix := p.names.name(p.ctx, p.service, kv["com.docker.swarm.task.id"], kv["com.docker.swarm.node.id"])
	var out strings.Builder
	out.WriteString(prefix)
	out.WriteString(" | ")
	if ts != "" {
		out.WriteString(ts + " ")
	}
	out.WriteString(msg)
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := io.WriteString(p.w, out.String())
	return err
}

func parseDetails(s string) map[string]string {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		out[k] = v
	}
	return out
}

// taskNames names tasks "service.slot@node", looking tasks and nodes up
// once and again when an unknown one appears.
type taskNames struct {
	e       *Engine
	project string
	mu      sync.Mutex
	slots   map[string]int    // task ID -> slot
	nodes   map[string]string // node ID -> hostname
}

func (n *taskNames) name(ctx context.Context, service, taskID, nodeID string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, knownTask := n.slots[taskID]
	_, knownNode := n.nodes[nodeID]
	if !knownTask || !knownNode {
		n.refresh(ctx)
		// Remember what is still unknown (a task Swarm forgot), so that
		// its next lines do not ask again.
		if _, ok := n.slots[taskID]; !ok {
			n.slots[taskID] = 0
		}
		if _, ok := n.nodes[nodeID]; !ok {
			n.nodes[nodeID] = ""
		}
	}
	who := service
	if slot := n.slots[taskID]; slot > 0 {
		who = fmt.Sprintf("%s.%d", service, slot)
	}
	node := n.nodes[nodeID]
	if node == "" {
		node = nodeID
	}
	if node != "" {
		who += "@" + node
	}
	return who
}

func (n *taskNames) refresh(ctx context.Context) {
	if nodes, err := n.e.nodeNames(ctx); err == nil {
		n.nodes = nodes
	}
	if n.nodes == nil {
		n.nodes = map[string]string{}
	}
	if n.slots == nil {
		n.slots = map[string]int{}
	}
	tasks, err := n.e.api.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelNamespace+"="+n.project))})
	if err != nil {
		return
	}
	for _, t := range tasks {
		n.slots[t.ID] = t.Slot
	}
}
