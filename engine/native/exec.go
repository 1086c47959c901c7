package native

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/internal/procfs"
)

// Exec runs a command in the running container, with the container's
// environment (extended by spec.Env), user, working dir, capabilities,
// seccomp profile and ulimits. With TTY it gets a pty of the container's
// devpts as its controlling terminal.
func (b *Backend) Exec(ctx context.Context, id string, spec engine.ExecSpec) (int, error) {
	r, st, err := b.running(id)
	if r == nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", r.Name, err)
	}
	if runtime.Frozen(st.Pid) {
		return -1, fmt.Errorf("exec in %s: %w: %w", r.Name, runtime.ErrPaused, engine.ErrConflict)
	}
	es := execSpec(r, spec)
	if spec.TTY {
		es.TTY, es.Size = true, runtime.WinSize{Rows: spec.Size.Rows, Cols: spec.Size.Cols}
		es.Resize = runtimeSizes(spec.Resize)
	}
	return runtime.Exec(ctx, st.Pid, es)
}

func execSpec(r *store.Record, spec engine.ExecSpec) runtime.ExecSpec {
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

// running finds the container ref names (r is nil when it does not) and
// reads its state: an engine.ErrConflict when it is not running.
func (b *Backend) running(ref string) (*store.Record, runtime.State, error) {
	r, err := b.layout.LoadRef(ref)
	if err != nil {
		return nil, runtime.State{}, err
	}
	st, started, err := b.layout.Status(r)
	if err != nil {
		return r, st, err
	}
	if !started || st.Status != runtime.StatusRunning {
		return r, st, fmt.Errorf("container is not running: %w", engine.ErrConflict)
	}
	return r, st, nil
}

// Top lists the container's processes as Docker's top does by default
// (`ps -ef` columns, host pids): every process in the pid namespace of
// its init.
func (b *Backend) Top(ctx context.Context, id string) ([]string, [][]string, error) {
	r, st, err := b.running(id)
	if r == nil {
		return nil, nil, fmt.Errorf("top: %w", err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("top %s: %w", r.Name, err)
	}
	rows, err := procfs.PidNamespace(st.Pid, time.Now())
	if err != nil {
		return nil, nil, fmt.Errorf("top %s: %w", r.Name, err)
	}
	return procfs.PsTitles, rows, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
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
