package build

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// A build's scratch dirs (a RUN step's overlay, a COPY's staging) are
// named <kind>-<pid>-<random> under tmp/, so that when a build is killed
// (SIGKILL: its deferred cleanup never runs) the next build finds them by
// their dead owner and removes them, unmounting what is still mounted
// there first. A live build's are never touched.

// stepIDPrefix starts a RUN step's container ID, hoist-build-<pid>-<hex>:
// its cgroups are named by it, and those of a killed build's steps are
// removed by the next build's sweep.
const stepIDPrefix = "hoist-build-"

// tmpPrefix names a scratch dir of kind for this process.
func tmpPrefix(kind string) string { return kind + strconv.Itoa(os.Getpid()) + "-" }

// sweepTmp removes the scratch dirs and RUN steps' cgroups of builds
// whose process is gone.
func (b *Builder) sweepTmp() {
	seen := map[string]bool{}
	for _, pattern := range []string{"/sys/fs/cgroup/*/hoist/", "/sys/fs/cgroup/*/*/hoist/", "/sys/fs/cgroup/*/*/*/hoist/"} {
		dirs, _ := filepath.Glob(pattern + stepIDPrefix + "*")
		for _, d := range dirs {
			id := filepath.Base(d)
			if seen[id] {
				continue
			}
			seen[id] = true
			pid, ok := ownerPid(strings.TrimPrefix(id, "hoist-"))
			if ok && pid != os.Getpid() && errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
				_ = runtime.RemoveCgroups(id)
			}
		}
	}
	ents, err := os.ReadDir(b.tmpDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, ok := ownerPid(e.Name())
		if !ok || pid == os.Getpid() || !errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			continue
		}
		dir := filepath.Join(b.tmpDir(), e.Name())
		if unmountUnder(dir) == nil {
			os.RemoveAll(dir)
		}
	}
}

// ownerPid reads the pid of a scratch dir's name (<kind>-<pid>-<random>).
func ownerPid(name string) (int, bool) {
	parts := strings.Split(name, "-")
	if len(parts) < 3 {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[1])
	return pid, err == nil && pid > 0
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}
