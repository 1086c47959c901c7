package main

// The native supervisor's figures (-supervisor): its RSS with N services
// running, against dockerd + containerd (and the containerd shims) for the
// same project on docker, in the same run; and the time from a crashed
// service's exit to running again, less the restart backoff, read from
// the supervisor's own events.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine/native/supervisor"
)

var supOpts struct {
	enabled  bool
	services int
	crashes  int
}

// supResult is what supReport prints.
var supResult struct {
	ran                 bool
	nativeRSS           int64 // bytes
	dockerd, containerd int64
	shims               int64
	nshims              int
	restarts            []time.Duration
	errors              []string
	services            int
	nativeUp, dockerUp  time.Duration
}

func init() {
	flag.BoolVar(&supOpts.enabled, "supervisor", false, "also measure the native supervisor: RSS with -supervisor-services running (vs dockerd+containerd), crash-to-running time")
	flag.IntVar(&supOpts.services, "supervisor-services", 50, "services for the supervisor RSS figure")
	flag.IntVar(&supOpts.crashes, "supervisor-crashes", 5, "crashes timed for the restart figure")
}

const supImage = "hoist-test/busybox:latest"

func supCompose(n int) string {
	var s strings.Builder
	s.WriteString("services:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "  s%02d:\n    image: %s\n    init: true\n    command: [\"sleep\", \"3600\"]\n", i, supImage)
	}
	fmt.Fprintf(&s, "  crasher:\n    image: %s\n    init: true\n    restart: always\n    command: [\"sleep\", \"3600\"]\n", supImage)
	return s.String()
}

// runSupervisor runs the supervisor figures when -supervisor is set.
func (b *bench) runSupervisor(ctx context.Context) {
	if !supOpts.enabled || ctx.Err() != nil {
		return
	}
	supResult.ran, supResult.services = true, supOpts.services
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf("supervisor: "+format, args...)
		b.logf("ERROR %s", msg)
		supResult.errors = append(supResult.errors, msg)
	}
	hoistBin := b.tools[0].argv[0]
	dir := filepath.Join(b.tmp, "supervisor")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail("%v", err)
		return
	}
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(supCompose(supOpts.services)), 0o644); err != nil {
		fail("%v", err)
		return
	}
	hoist := func(ctx context.Context, eng, project string, args ...string) error {
		c := exec.CommandContext(ctx, hoistBin, append([]string{"--engine", eng, "-f", file, "-p", project, "--progress", "quiet"}, args...)...)
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("hoist --engine %s %s: %v: %s", eng, strings.Join(args, " "), err, out)
		}
		return nil
	}
	for _, eng := range []string{"native", "docker"} {
		project := "hbench-sup-" + eng
		b.track(project, eng)
		start := time.Now()
		if err := hoist(ctx, eng, project, "up", "-d", "--wait"); err != nil {
			fail("%v", err)
			_ = hoist(context.WithoutCancel(ctx), eng, project, "down", "-t", "0")
			continue
		}
		took := time.Since(start)
		time.Sleep(2 * time.Second) // let the daemons settle before reading RSS
		if eng == "native" {
			supResult.nativeUp = took
			pid, ok := supervisor.Running(nativeRunDir(project))
			if !ok {
				fail("no supervisor runs for %s", project)
			} else {
				supResult.nativeRSS = rss(pid)
			}
			if err := b.timeRestarts(ctx, hoist, project); err != nil {
				fail("restarts: %v", err)
			}
		} else {
			supResult.dockerUp = took
			for _, p := range pidsNamed("dockerd") {
				supResult.dockerd += rss(p)
			}
			for _, p := range pidsNamed("containerd") {
				supResult.containerd += rss(p)
			}
			for _, p := range pidsNamed("containerd-shim-runc-v2") {
				supResult.shims += rss(p)
				supResult.nshims++
			}
		}
		if err := hoist(context.WithoutCancel(ctx), eng, project, "down", "-t", "0"); err != nil {
			fail("%v", err)
		}
	}
}

// timeRestarts kills the crasher service supOpts.crashes times and times
// exit → started again from the supervisor's events, less the backoff.
func (b *bench) timeRestarts(ctx context.Context, hoist func(context.Context, string, string, ...string) error, project string) error {
	c, err := supervisor.Connect(ctx, nativeRunDir(project))
	if err != nil {
		return err
	}
	for i := 0; i < supOpts.crashes; i++ {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		events, err := c.Subscribe(sctx)
		if err != nil {
			cancel()
			return err
		}
		if err := hoist(sctx, "native", project, "kill", "crasher"); err != nil {
			cancel()
			return err
		}
		var exited, started time.Time
		var delay time.Duration
		for e := range events {
			switch e.Type {
			case supervisor.EventExited:
				exited = e.Time
			case supervisor.EventRestarting:
				delay = e.Delay
			case supervisor.EventStarted:
				if !exited.IsZero() {
					started = e.Time
				}
			}
			if !started.IsZero() {
				break
			}
		}
		cancel()
		if started.IsZero() {
			return fmt.Errorf("crash %d: no restart seen", i+1)
		}
		supResult.restarts = append(supResult.restarts, started.Sub(exited)-delay)
	}
	return nil
}

// rss is a process's resident set size in bytes (0 if unknown).
func rss(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// pidsNamed lists the processes whose comm is name.
func pidsNamed(name string) []int {
	var out []int
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range comms {
		data, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(data)) != name[:min(len(name), 15)] {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// supReport is the supervisor section of the report ("" without -supervisor).
func supReport() string {
	r := &supResult
	if !r.ran {
		return ""
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\n## Native supervisor (%d services + 1)\n\n", r.services)
	goal := "meets the 30 MiB goal"
	if r.nativeRSS > 30<<20 || r.nativeRSS == 0 {
		goal = "MISSES the 30 MiB goal"
	}
	fmt.Fprintf(&s, "| | RSS | up -d --wait |\n|---|---|---|\n")
	fmt.Fprintf(&s, "| native: the project's supervisor | %s (%s) | %s |\n", mib(r.nativeRSS), goal, r.nativeUp.Round(time.Millisecond))
	fmt.Fprintf(&s, "| docker: dockerd + containerd | %s + %s = %s | %s |\n", mib(r.dockerd), mib(r.containerd), mib(r.dockerd+r.containerd), r.dockerUp.Round(time.Millisecond))
	fmt.Fprintf(&s, "| docker: + %d containerd shims | %s in all | |\n", r.nshims, mib(r.dockerd+r.containerd+r.shims))
	if len(r.restarts) > 0 {
		var ds []time.Duration
		ds = append(ds, r.restarts...)
		fmt.Fprintf(&s, "\nCrash (kill) → running again, backoff excluded, %d crashes: p50 %s, max %s\n",
			len(ds), fmtMS(percentile(ds, 50)), fmtMS(percentile(ds, 100)))
	}
	for _, e := range r.errors {
		fmt.Fprintf(&s, "\n- error: %s\n", e)
	}
	return s.String()
}
