package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoFreezer is returned by Freeze and Thaw for a container that has no
// freezer cgroup of its own: the host lacks the controller, or the
// container was started before hoist gave containers one.
var ErrNoFreezer = errors.New("the container has no freezer cgroup of its own")

// freezerDir is the container's own freezer directory (v1), or its
// unified directory (v2). A directory that is not under a "hoist" parent
// is not the container's own (a container started before it had one
// reports hoist's), and freezing that would freeze hoist too.
func (c *Container) freezerDir() (string, error) {
	key := "freezer"
	if c.v2 {
		key = ""
	}
	dir, ok := c.dirs[key]
	if !ok || filepath.Base(filepath.Dir(dir)) != "hoist" {
		return "", ErrNoFreezer
	}
	return dir, nil
}

// Freeze stops every process of the container (docker pause) and returns
// once the kernel reports them all frozen, or when ctx ends.
func (c *Container) Freeze(ctx context.Context) error {
	return c.setFrozen(ctx, true)
}

// Thaw resumes the container's processes (docker unpause).
func (c *Container) Thaw() error {
	return c.setFrozen(context.Background(), false)
}

func (c *Container) setFrozen(ctx context.Context, frozen bool) error {
	dir, err := c.freezerDir()
	if err != nil {
		return err
	}
	file, value := "freezer.state", "THAWED"
	if c.v2 {
		file, value = "cgroup.freeze", "0"
	}
	if frozen {
		value = map[bool]string{false: "FROZEN", true: "1"}[c.v2]
	}
	if err := writeCgroupFile(dir, file, value); err != nil {
		return err
	}
	// Freezing is asynchronous: v1 reports FREEZING until every task
	// has stopped, v2 sets "frozen 1" in cgroup.events.
	for delay := time.Millisecond; ; delay = min(delay*2, 50*time.Millisecond) {
		got, err := c.Frozen()
		if err != nil {
			return err
		}
		if got == frozen {
			return nil
		}
		select {
		case <-ctx.Done():
			_ = c.Thaw()
			return fmt.Errorf("freeze %s: %w", dir, ctx.Err())
		case <-time.After(delay):
		}
		if frozen && !c.v2 {
			// v1 retries a freeze that a forking task interrupted only
			// when FROZEN is written again.
			if err := writeCgroupFile(dir, file, value); err != nil {
				return err
			}
		}
	}
}

// Frozen reports whether the container's processes are all frozen.
func (c *Container) Frozen() (bool, error) {
	dir, err := c.freezerDir()
	if err != nil {
		return false, err
	}
	if c.v2 {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return false, fmt.Errorf("read freezer state: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line == "frozen 1" {
				return true, nil
			}
		}
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
	if err != nil {
		return false, fmt.Errorf("read freezer state: %w", err)
	}
	return strings.TrimSpace(string(b)) == "FROZEN", nil
}
