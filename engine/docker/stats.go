package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/hoist-dev/hoist/engine"
)

// Stats reads the container's counters once from the daemon.
func (b *Backend) Stats(ctx context.Context, id string) (engine.Stats, error) {
	resp, err := b.api.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return engine.Stats{}, fmt.Errorf("stats of container %q: %w", id, mapErr(err))
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return engine.Stats{}, fmt.Errorf("stats of container %q: %w", id, err)
	}
	// A stopped container reads as zero time and no processes.
	if s.Read.IsZero() || s.Read.Year() < 2 {
		return engine.Stats{}, fmt.Errorf("stats of container %q: container is not running: %w", id, engine.ErrConflict)
	}
	out := engine.Stats{
		Read:        s.Read,
		CPUNanos:    s.CPUStats.CPUUsage.TotalUsage,
		MemoryLimit: s.MemoryStats.Limit,
		Pids:        s.PidsStats.Current,
	}
	// docker stats' own rule: usage less the inactive page cache
	// (total_inactive_file on cgroup v1, inactive_file on v2).
	cache := s.MemoryStats.Stats["total_inactive_file"]
	if v, ok := s.MemoryStats.Stats["inactive_file"]; ok && cache == 0 {
		cache = v
	}
	out.MemoryUsage = s.MemoryStats.Usage - min(s.MemoryStats.Usage, cache)
	for _, n := range s.Networks {
		out.NetRx += n.RxBytes
		out.NetTx += n.TxBytes
	}
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			out.BlockRead += e.Value
		case "write":
			out.BlockWrite += e.Value
		}
	}
	return out, nil
}
