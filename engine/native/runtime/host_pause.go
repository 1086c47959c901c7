//go:build !hoistinit

package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/hoist-dev/hoist/engine/native/runtime/cgroup"
)

// ErrPaused is returned by Exec into a paused container: its process would
// be frozen as soon as it joined the container's cgroup.
var ErrPaused = errors.New("container is paused, unpause the container before exec")

// ErrNoFreezer is cgroup.ErrNoFreezer: the container cannot be paused.
var ErrNoFreezer = cgroup.ErrNoFreezer

// Freeze pauses every process of the container whose init is pid
// (docker pause), through its freezer cgroup.
func Freeze(ctx context.Context, pid int) error {
	cg, err := cgroup.OfProcess(pid)
	if err != nil {
		return err
	}
	if err := cg.Freeze(ctx); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	return nil
}

// Thaw resumes the container whose init is pid (docker unpause).
func Thaw(pid int) error {
	cg, err := cgroup.OfProcess(pid)
	if err != nil {
		return err
	}
	if err := cg.Thaw(); err != nil {
		return fmt.Errorf("unpause: %w", err)
	}
	return nil
}

// Frozen reports whether the container whose init is pid is paused; a
// container without a freezer never is.
func Frozen(pid int) bool {
	cg, err := cgroup.OfProcess(pid)
	if err != nil {
		return false
	}
	frozen, err := cg.Frozen()
	return err == nil && frozen
}

// CgroupStats reads the resource counters of the container whose init is
// pid.
func CgroupStats(pid int) (cgroup.Stats, error) {
	cg, err := cgroup.OfProcess(pid)
	if err != nil {
		return cgroup.Stats{}, err
	}
	return cg.Stats()
}
