package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/internal/swarmbed"
)

// The swarm scenario times hoist's swarm engine against `docker stack
// deploy` on the 3-node test bed (scripts/swarm-testbed.sh, through
// internal/swarmbed, which takes its machine-wide lock), on the same file:
// up until converged (hoist up waits by default; the peer gets
// --detach=false), the same again with nothing changed, and down until no
// service, task container (on any node) or network of the project is left
// (hoist down waits for that; the peer's stack rm --detach=false waits for
// the services only, so both are followed by the same check, timed).
// The file uses only a preloaded image, since the peer cannot build.
// Goals (issue 15): converged no slower than the peer; no-op under 0.3 s.

const swarmServices = 5

type swarmBench struct {
	up, noop, down [2][]float64 // [0] hoist, [1] docker stack
	err            error
}

func swarmCompose() string {
	var s strings.Builder
	s.WriteString("services:\n")
	for i := range swarmServices {
		fmt.Fprintf(&s, "  s%d:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n    init: true\n    deploy: {replicas: 2, endpoint_mode: dnsrr}\n", i, busyboxImage)
	}
	return s.String()
}

func (b *bench) runSwarmScenario(ctx context.Context) *swarmBench {
	sb := &swarmBench{}
	bed, err := swarmbed.Start()
	if err != nil {
		sb.err = fmt.Errorf("swarm test bed: %w", err)
		return sb
	}
	defer func() {
		if err := bed.Release(); err != nil && sb.err == nil {
			sb.err = err
		}
	}()
	dir := filepath.Join(b.tmp, "swarm")
	if sb.err = os.MkdirAll(dir, 0o755); sb.err != nil {
		return sb
	}
	file := filepath.Join(dir, "compose.yaml")
	if sb.err = os.WriteFile(file, []byte(swarmCompose()), 0o644); sb.err != nil {
		return sb
	}
	env := append(withoutEnv(withoutEnv(os.Environ(), "HOIST_ENGINE"), "DOCKER_CONTEXT"), "DOCKER_HOST="+bed.Manager)
	project := [2]string{"hbench-swarm-hs", "hbench-swarm-ds"}
	timed := func(argv []string, p string) (float64, error) {
		c := exec.CommandContext(ctx, argv[0], argv[1:]...)
		c.Dir, c.Env = dir, env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		start := time.Now()
		err := c.Run()
		d := time.Since(start).Seconds()
		if err != nil {
			return d, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, tail(out.String(), 5))
		}
		return d, nil
	}
	upCmd := func(t int) []string {
		if t == 0 {
			return []string{b.hoist, "--engine", "swarm", "-p", project[0], "-f", file, "--progress", "quiet", "up"}
		}
		return []string{"docker", "stack", "deploy", "--detach=false", "-c", file, project[1]}
	}
	downCmd := func(t int) []string {
		if t == 0 {
			return []string{b.hoist, "--engine", "swarm", "-p", project[0], "-f", file, "--progress", "quiet", "down"}
		}
		return []string{"docker", "stack", "rm", "--detach=false", project[1]}
	}
	// Whatever a failed or interrupted run left goes before the test bed
	// is released (it stays up when another process started it).
	defer func() {
		for t := range 2 {
			c := exec.Command(downCmd(t)[0], downCmd(t)[1:]...)
			c.Dir, c.Env = dir, env
			_ = c.Run()
		}
	}()
	for i := 0; i < b.opts.n && ctx.Err() == nil; i++ {
		for k := range 2 {
			t := (i + k) % 2 // alternate who goes first
			d, err := timed(upCmd(t), project[t])
			if err != nil {
				sb.err = err
				return sb
			}
			sb.up[t] = append(sb.up[t], d)
			if d, err = timed(upCmd(t), project[t]); err != nil {
				sb.err = err
				return sb
			}
			sb.noop[t] = append(sb.noop[t], d)
			start := time.Now()
			if _, err = timed(downCmd(t), project[t]); err != nil {
				sb.err = err
				return sb
			}
			if err := swarmGone(ctx, bed, project[t]); err != nil {
				sb.err = err
				return sb
			}
			sb.down[t] = append(sb.down[t], time.Since(start).Seconds())
		}
	}
	b.logf("swarm: %d runs each", len(sb.up[0]))
	return sb
}

// swarmGone polls until no service or network of the project is left on
// the manager and no container of it on any node.
func swarmGone(ctx context.Context, bed *swarmbed.Bed, project string) error {
	label := "label=com.docker.stack.namespace=" + project
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := 0
		queries := [][]string{
			{"-H", bed.Manager, "service", "ls", "-q", "--filter", label},
			{"-H", bed.Manager, "network", "ls", "-q", "--filter", label},
		}
		for _, n := range bed.Nodes {
			queries = append(queries, []string{"-H", n, "ps", "-aq", "--filter", label})
		}
		for _, q := range queries {
			out, err := exec.CommandContext(ctx, "docker", q...).Output()
			if err != nil {
				return fmt.Errorf("docker %s: %w", strings.Join(q, " "), err)
			}
			left += len(strings.Fields(string(out)))
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("project %s: %d objects left after down", project, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (sb *swarmBench) report() string {
	if sb == nil {
		return ""
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\n## swarm: hoist `up --engine swarm` vs `docker stack deploy --detach=false`, 3-node test bed, %d busybox services × 2 replicas\n\n", swarmServices)
	if sb.err != nil {
		fmt.Fprintf(&s, "error: %s\n\n", strings.ReplaceAll(strings.TrimSpace(sb.err.Error()), "\n", " / "))
	}
	var rows [][]string
	for _, r := range []struct {
		name, goal string
		xs         [2][]float64
	}{
		{"up until converged", "hoist ≤ peer", sb.up},
		{"no-op redeploy", "hoist < 0.3 s", sb.noop},
		{"down until nothing is left", "", sb.down},
	} {
		h, okH := median(r.xs[0])
		d, okD := median(r.xs[1])
		if !okH || !okD {
			continue
		}
		rows = append(rows, []string{r.name, strconv.Itoa(len(r.xs[0])), fmtSecs(h), fmtSecs(d), fmt.Sprintf("%.2f", h/d), r.goal})
	}
	s.WriteString(markdownTable([]string{"step", "n", "hoist swarm (s)", "docker stack (s)", "ratio", "goal"}, rows, nil))
	return s.String()
}
