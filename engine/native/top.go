package native

import (
	"context"
	"fmt"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/internal/procfs"
)

// Top lists the container's processes as Docker's top does by default
// (`ps -ef` columns, host pids): every process in the pid namespace of
// its init.
func (b *Backend) Top(ctx context.Context, id string) ([]string, [][]string, error) {
	r, err := b.load(id)
	if err != nil {
		return nil, nil, fmt.Errorf("top: %w", err)
	}
	st, started, err := b.status(r)
	if err != nil {
		return nil, nil, fmt.Errorf("top %s: %w", r.Name, err)
	}
	if !started || st.Status != runtime.StatusRunning {
		return nil, nil, fmt.Errorf("top %s: container is not running: %w", r.Name, engine.ErrConflict)
	}
	rows, err := procfs.PidNamespace(st.Pid, time.Now())
	if err != nil {
		return nil, nil, fmt.Errorf("top %s: %w", r.Name, err)
	}
	return procfs.PsTitles, rows, nil
}
