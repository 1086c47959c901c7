package cgroup

import (
	"context"
	"errors"
	"testing"
)

// A container started before containers had a freezer cgroup reports
// hoist's own (here the hierarchy's root): freezing that would freeze
// hoist and everything beside it, so it is refused without a write.
func TestFreezeRefusesANotOwnCgroup(t *testing.T) {
	for _, dir := range []string{"/sys/fs/cgroup/freezer", "/sys/fs/cgroup/freezer/process_api/x"} {
		c := &Container{dirs: map[string]string{"freezer": dir}}
		if err := c.Freeze(context.Background()); !errors.Is(err, ErrNoFreezer) {
			t.Errorf("Freeze of %s = %v, want ErrNoFreezer", dir, err)
		}
		if _, err := c.Frozen(); !errors.Is(err, ErrNoFreezer) {
			t.Errorf("Frozen of %s = %v, want ErrNoFreezer", dir, err)
		}
	}
}
