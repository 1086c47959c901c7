package native

import "github.com/hoist-dev/hoist/engine/native/runtime"

// removeCgroups is the cleanup for a container whose monitor or supervisor
// died: the runtime knows its cgroup layout.
func removeCgroups(id string) error { return runtime.RemoveCgroups(id) }

// cgroupDirs lists the container's cgroup directories that still exist.
func cgroupDirs(id string) []string { return runtime.CgroupDirs(id) }
