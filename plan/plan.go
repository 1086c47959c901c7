// Package plan turns a desired project and the observed engine state into a
// DAG of single operations. It is pure: no engine, no clock, no I/O, so plans
// are compared as literal text in tests and printed by --dry-run.
package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Kind is what one operation does.
type Kind string

const (
	Pull          Kind = "pull"
	Build         Kind = "build"
	CreateNetwork Kind = "create network"
	CreateVolume  Kind = "create volume"
	Create        Kind = "create container"
	Start         Kind = "start container"
	WaitRunning   Kind = "wait running"
	WaitHealthy   Kind = "wait healthy"
	WaitCompleted Kind = "wait completed"
	Stop          Kind = "stop container"
	Remove        Kind = "remove container"
	RemoveNetwork Kind = "remove network"
	RemoveVolume  Kind = "remove volume"
	RemoveImage   Kind = "remove image"
)

// Op is one node of the plan.
type Op struct {
	Kind    Kind
	Target  string // container, network, volume name or image reference
	Service string
	Number  int
	// ContainerID is the existing container an op acts on (stop, remove,
	// start of a stopped one); empty for containers created by the plan.
	ContainerID string
	// RemoveVolumes, on a container's removal, removes its anonymous
	// volumes too (down -v, as docker compose's).
	RemoveVolumes bool
	Reason        string
	Deps          []string // IDs of ops that must finish first
}

// ID is unique within a plan.
func (o *Op) ID() string { return string(o.Kind) + " " + o.Target }

// Plan is a DAG of operations.
type Plan struct {
	ops   map[string]*Op
	order []string // insertion order, only for stable construction
	// Warnings are things the user should know that change nothing (orphans).
	Warnings []string
}

func newPlan() *Plan { return &Plan{ops: map[string]*Op{}} }

// add inserts op unless an op with the same ID exists, and returns the one
// in the plan.
func (p *Plan) add(op *Op) *Op {
	if old, ok := p.ops[op.ID()]; ok {
		return old
	}
	p.ops[op.ID()] = op
	p.order = append(p.order, op.ID())
	return op
}

func (p *Plan) get(id string) *Op { return p.ops[id] }

// dep records that op waits for each of ids that exist in the plan.
func (p *Plan) dep(op *Op, ids ...string) {
	for _, id := range ids {
		if id == "" || id == op.ID() {
			continue
		}
		if _, ok := p.ops[id]; !ok {
			continue
		}
		dup := false
		for _, d := range op.Deps {
			if d == id {
				dup = true
				break
			}
		}
		if !dup {
			op.Deps = append(op.Deps, id)
		}
	}
}

// without drops the ops of kinds. An op that waited for a dropped one
// waits for what that one waited for, so the order of the rest stays.
func (p *Plan) without(kinds ...Kind) {
	drop := map[string]bool{}
	for id, op := range p.ops {
		if slices.Contains(kinds, op.Kind) {
			drop[id] = true
		}
	}
	var through func(id string) []string
	through = func(id string) []string {
		if !drop[id] {
			return []string{id}
		}
		var out []string
		for _, d := range p.ops[id].Deps {
			out = append(out, through(d)...)
		}
		return out
	}
	for id, op := range p.ops {
		if drop[id] {
			continue
		}
		var deps []string
		for _, d := range op.Deps {
			for _, t := range through(d) {
				if !slices.Contains(deps, t) {
					deps = append(deps, t)
				}
			}
		}
		op.Deps = deps
	}
	for id := range drop {
		delete(p.ops, id)
	}
	p.order = slices.DeleteFunc(p.order, func(id string) bool { return drop[id] })
}

// Len is the number of operations.
func (p *Plan) Len() int { return len(p.ops) }

// Empty reports whether there is nothing to do.
func (p *Plan) Empty() bool { return len(p.ops) == 0 }

// Ops returns the operations in a deterministic topological order: by depth
// in the DAG, then by ID.
func (p *Plan) Ops() []*Op {
	depth := map[string]int{}
	var visit func(id string) int
	visit = func(id string) int {
		if d, ok := depth[id]; ok {
			return d
		}
		depth[id] = 0 // the planner never builds cycles; this guards anyway
		d := 0
		for _, dep := range p.ops[id].Deps {
			if v := visit(dep) + 1; v > d {
				d = v
			}
		}
		depth[id] = d
		return d
	}
	ids := make([]string, 0, len(p.ops))
	for id := range p.ops {
		visit(id)
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if depth[ids[i]] != depth[ids[j]] {
			return depth[ids[i]] < depth[ids[j]]
		}
		return ids[i] < ids[j]
	})
	out := make([]*Op, len(ids))
	for i, id := range ids {
		op := *p.ops[id]
		op.Deps = append([]string(nil), op.Deps...)
		sort.Strings(op.Deps)
		out[i] = &op
	}
	return out
}

// String prints one operation per line, deterministic, for --dry-run and tests.
func (p *Plan) String() string {
	if p.Empty() {
		return "nothing to do\n"
	}
	var b strings.Builder
	for _, op := range p.Ops() {
		b.WriteString(op.ID())
		if op.Reason != "" {
			fmt.Fprintf(&b, " (%s)", op.Reason)
		}
		if len(op.Deps) > 0 {
			b.WriteString(" <- " + strings.Join(op.Deps, ", "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
