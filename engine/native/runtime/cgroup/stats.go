package cgroup

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats are a container's resource counters, as docker stats reads them.
type Stats struct {
	// CPUNanos is the CPU time its processes used, in nanoseconds.
	CPUNanos uint64
	// MemoryUsage is the memory it uses without the inactive page cache
	// (as docker stats counts it); MemoryLimit its limit (0: none).
	MemoryUsage uint64
	MemoryLimit uint64
	Pids        uint64
}

// noLimit is what v1 reports as memory.limit_in_bytes without a limit
// (the largest page-aligned int64); v2 writes "max".
const noLimit = uint64(1<<63 - 4096)

// Stats reads the container's counters.
func (c *Container) Stats() (Stats, error) {
	if c.v2 {
		return c.statsV2()
	}
	var s Stats
	var err error
	if dir, ok := c.dirs["cpuacct"]; ok {
		if s.CPUNanos, err = readUint(dir, "cpuacct.usage"); err != nil {
			return s, err
		}
	}
	dir := c.dirs["memory"]
	usage, err := readUint(dir, "memory.usage_in_bytes")
	if err != nil {
		return s, err
	}
	stat, err := readKeyed(dir, "memory.stat")
	if err != nil {
		return s, err
	}
	s.MemoryUsage = usage - min(usage, stat["total_inactive_file"])
	if lim, err := readUint(dir, "memory.limit_in_bytes"); err == nil && lim < noLimit {
		s.MemoryLimit = lim
	}
	if s.Pids, err = readUint(c.dirs["pids"], "pids.current"); err != nil {
		return s, err
	}
	return s, nil
}

func (c *Container) statsV2() (Stats, error) {
	dir := c.dirs[""]
	var s Stats
	cpu, err := readKeyed(dir, "cpu.stat")
	if err != nil {
		return s, err
	}
	s.CPUNanos = cpu["usage_usec"] * 1000
	usage, err := readUint(dir, "memory.current")
	if err != nil {
		return s, err
	}
	stat, err := readKeyed(dir, "memory.stat")
	if err != nil {
		return s, err
	}
	s.MemoryUsage = usage - min(usage, stat["inactive_file"])
	if lim, err := readUint(dir, "memory.max"); err == nil {
		s.MemoryLimit = lim
	}
	if s.Pids, err = readUint(dir, "pids.current"); err != nil {
		return s, err
	}
	return s, nil
}

// readUint reads a cgroup file holding one number ("max" is an error).
func readUint(dir, name string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, fmt.Errorf("read cgroup stats: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read cgroup %s: %w", name, err)
	}
	return n, nil
}

// readKeyed reads a cgroup file of "key value" lines.
func readKeyed(dir, name string) (map[string]uint64, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("read cgroup stats: %w", err)
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}
