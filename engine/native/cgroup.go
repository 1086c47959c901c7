package native

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The runtime's monitor removes a container's cgroups when the container
// exits. When the monitor itself died (killed, OOM, reboot of a
// half-written state), removeCgroups does it, with the layout the runtime
// documents: <controller>/<hoist's own path>/hoist/<id>. The runtime has
// no exported cleanup by ID yet; this stays in sync with its package doc.

var cgroupControllers = []string{"memory", "cpu", "pids"}

// cgroupDirs returns the container's cgroup directories that exist.
func cgroupDirs(id string) []string {
	own := map[string]string{}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	var cands []string
	if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.TrimSpace(string(b)) != "" {
		cands = append(cands, filepath.Join("/sys/fs/cgroup", own[""], "hoist", id))
	} else {
		for _, c := range cgroupControllers {
			cands = append(cands, filepath.Join("/sys/fs/cgroup", c, own[c], "hoist", id))
		}
	}
	var out []string
	for _, d := range cands {
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// removeCgroups kills what is left in the container's cgroups and removes
// them (and the shared "hoist" dir when it became empty).
func removeCgroups(id string) error {
	var errs []error
	for _, dir := range cgroupDirs(id) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			pids := cgroupPids(dir)
			if len(pids) == 0 {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("cgroup %s: processes %v do not exit", dir, pids))
				break
			}
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			time.Sleep(10 * time.Millisecond) // the kernel empties the cgroup asynchronously
		}
		if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
			continue
		}
		_ = os.Remove(filepath.Dir(dir))
	}
	return errors.Join(errs...)
}

func cgroupPids(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}
