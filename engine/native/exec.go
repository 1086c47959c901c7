package native

import (
	"context"
	"fmt"
	"strings"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// Exec runs a command in the running container, with the container's
// environment (extended by spec.Env), user, working dir, capabilities,
// seccomp profile and ulimits. With TTY it gets a pty of the container's
// devpts as its controlling terminal.
func (b *Backend) Exec(ctx context.Context, id string, spec engine.ExecSpec) (int, error) {
	r, err := b.load(id)
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	st, started, err := b.status(r)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", r.Name, err)
	}
	if !started || st.Status != runtime.StatusRunning {
		return -1, fmt.Errorf("exec in %s: container is not running: %w", r.Name, engine.ErrConflict)
	}
	es := b.execSpec(r, spec)
	if spec.TTY {
		es.TTY, es.Size = true, runtime.WinSize{Rows: spec.Size.Rows, Cols: spec.Size.Cols}
		es.Resize = runtimeSizes(spec.Resize)
	}
	return runtime.Exec(ctx, st.Pid, es)
}

func (b *Backend) execSpec(r *record, spec engine.ExecSpec) runtime.ExecSpec {
	env := overrideEnv(r.Spec.Env, spec.Env)
	return runtime.ExecSpec{
		Args:     spec.Cmd,
		Env:      env,
		Cwd:      firstNonEmpty(spec.WorkDir, r.Spec.Cwd),
		User:     firstNonEmpty(spec.User, r.Spec.User),
		GroupAdd: r.Spec.GroupAdd,
		Security: r.Spec.Security,
		Ulimits:  r.Spec.Ulimits,
		Stdin:    spec.Stdin,
		Stdout:   spec.Stdout,
		Stderr:   spec.Stderr,
	}
}

// overrideEnv returns base with the variables of over replacing those of
// the same name, in base's order, then the new ones.
func overrideEnv(base, over []string) []string {
	idx := map[string]int{}
	out := append([]string(nil), base...)
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// runtimeSizes passes terminal sizes on to the runtime (nil for nil).
func runtimeSizes(in <-chan engine.WinSize) <-chan runtime.WinSize {
	if in == nil {
		return nil
	}
	out := make(chan runtime.WinSize)
	go func() {
		defer close(out)
		for ws := range in {
			out <- runtime.WinSize{Rows: ws.Rows, Cols: ws.Cols}
		}
	}()
	return out
}
