package native

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// Stats reads the running container's counters: CPU, memory and pids
// from its cgroups, the network from its namespace's /proc/net/dev
// (through its init). Block I/O is not accounted (no blkio cgroup).
func (b *Backend) Stats(ctx context.Context, id string) (engine.Stats, error) {
	r, st, err := b.running(id)
	if r == nil {
		return engine.Stats{}, fmt.Errorf("stats: %w", err)
	}
	if err != nil {
		return engine.Stats{}, fmt.Errorf("stats of %s: %w", r.Name, err)
	}
	cg, err := runtime.CgroupStats(st.Pid)
	if err != nil {
		return engine.Stats{}, fmt.Errorf("stats of %s: %w", r.Name, err)
	}
	out := engine.Stats{
		Read: time.Now(), CPUNanos: cg.CPUNanos,
		MemoryUsage: cg.MemoryUsage, MemoryLimit: cg.MemoryLimit, Pids: cg.Pids,
	}
	if out.MemoryLimit == 0 {
		out.MemoryLimit = hostMemory()
	}
	if r.NetworkMode != "host" {
		out.NetRx, out.NetTx, err = netDev(fmt.Sprintf("/proc/%d/net/dev", st.Pid))
		if err != nil {
			return engine.Stats{}, fmt.Errorf("stats of %s: %w", r.Name, err)
		}
	}
	return out, nil
}

// netDev sums the bytes received and sent by the interfaces of a
// /proc/net/dev other than the loopback, as docker counts them.
func netDev(path string) (rx, tx uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		// Receive: bytes packets errs drop fifo frame compressed
		// multicast; then transmit: bytes ...
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx, sc.Err()
}

// hostMemory is the host's memory in bytes, the limit of a container
// without one (as the Engine reports it).
func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
