//go:build !hoistinit

package runtime

import "github.com/hoist-dev/hoist/engine/native/runtime/cgroup"

// RemoveCgroups kills whatever is left in container id's cgroups and
// removes them (cgroup.Remove): the cleanup for a container whose monitor
// or supervisor died.
func RemoveCgroups(id string) error { return cgroup.Remove(id) }

// CgroupDirs lists the existing cgroup directories of container id, for
// leak checks (cgroup.Existing).
func CgroupDirs(id string) []string { return cgroup.Existing(id) }
