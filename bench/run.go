package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The run scenario times a one-off container: `hoist --engine native run
// --rm box true` against `docker run --rm <busybox> true`, in turns, in the
// same run. The native engine runs on its own root and run dir under the
// bench's temporary directory, with the busybox image imported there.
// hoist is timed twice: as a user gets it (from the second identical run
// on, the run cache's fast path, cmd/hoist/fastrun; HOIST_FASTRUN=require
// makes sure it is taken) and the usual way (HOIST_FASTRUN=off), which is
// also what the first run of a command line takes.
// Goal ("Native engine, part 1"): hoist ≤ 0.05 s and ≥ 10× faster.

var runRuns = 20

func init() {
	flag.IntVar(&runRuns, "run-n", 20, "run scenario: runs of each command (the table shows the median; at least 20 for the goal)")
}

// runProject is the run scenario's project, in its own HOIST_RUN_DIR.
const runProject = "hbench-run"

type runBench struct {
	hoist, usual, docker []float64
	err                  error
	dir                  string
	env                  []string
	hoistBin             string
}

func (b *bench) runRunScenario(ctx context.Context, hoistBin string) *runBench {
	dir := filepath.Join(b.tmp, "run")
	env := append(withoutEnv(os.Environ(), "HOIST_ENGINE"), "HOIST_ROOT="+filepath.Join(dir, "root"), "HOIST_RUN_DIR="+filepath.Join(dir, "state"))
	rb := &runBench{dir: dir, env: env, hoistBin: hoistBin}
	b.runRes = rb // for cleanRun, even when interrupted
	b.logf("run: preparing a native root under %s", dir)
	if rb.err = prepareRun(ctx, dir, hoistBin, env); rb.err != nil {
		return rb
	}
	hoistCmd := []string{hoistBin, "--engine", "native", "-p", runProject, "run", "--rm", "box", "true"}
	dockerCmd := []string{"docker", "run", "--rm", busyboxImage, "true"}
	type cmd struct {
		argv []string
		env  []string
	}
	once := func(x cmd) (time.Duration, error) {
		argv := x.argv
		c := exec.CommandContext(ctx, argv[0], argv[1:]...)
		c.Dir, c.Env = dir, x.env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		start := time.Now()
		err := c.Run()
		d := time.Since(start)
		if err != nil {
			return d, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, out.String())
		}
		return d, nil
	}
	withEnv := func(kv string) []string { return append(slices.Clip(env), kv) }
	fast := cmd{hoistCmd, withEnv("HOIST_FASTRUN=require")}
	usual := cmd{hoistCmd, withEnv("HOIST_FASTRUN=off")}
	docker := cmd{dockerCmd, env}
	// One untimed run each warms the page cache; hoist's first (the usual
	// way) leaves the run cache entry the fast path then uses.
	for _, x := range []cmd{{hoistCmd, env}, docker} {
		if _, rb.err = once(x); rb.err != nil {
			return rb
		}
	}
	series := []*[]float64{&rb.hoist, &rb.usual, &rb.docker}
	argvs := []cmd{fast, usual, docker}
	for i := 0; i < runRuns && ctx.Err() == nil; i++ {
		for k := range argvs {
			j := (i + k) % len(argvs) // each in each position in turn
			d, err := once(argvs[j])
			if err != nil {
				rb.err = err
				return rb
			}
			*series[j] = append(*series[j], d.Seconds())
		}
	}
	h, _ := median(rb.hoist)
	u, _ := median(rb.usual)
	d, _ := median(rb.docker)
	b.logf("run: %d runs each, median hoist native %s (the usual way %s), docker run %s", len(rb.hoist), fmtSecs(h), fmtSecs(u), fmtSecs(d))
	return rb
}

// cleanRun takes down whatever the run scenario's project left in its own
// native root, and unmounts what is still mounted under it, so that the
// temporary directory can go.
func (b *bench) cleanRun() {
	rb := b.runRes
	if rb == nil || rb.dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, rb.hoistBin, "--engine", "native", "-p", runProject, "--progress", "quiet", "down", "-v", "-t", "0", "--remove-orphans")
	c.Dir, c.Env = rb.dir, rb.env
	if out, err := c.CombinedOutput(); err != nil {
		b.logf("run: down in %s: %v: %s", rb.dir, err, tail(string(out), 5))
	}
	if mounts := mountsUnder(rb.dir); len(mounts) > 0 {
		b.logf("run: %d mounts left under %s; unmounting", len(mounts), rb.dir)
		for i := len(mounts) - 1; i >= 0; i-- {
			_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
		}
	}
}

// mountsUnder lists the mount points under dir, in /proc/self/mountinfo's
// order (parents first).
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// prepareRun writes the project and imports the busybox image into the
// native store and, when missing, into dockerd.
func prepareRun(ctx context.Context, dir, hoistBin string, env []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	compose := "services:\n  box:\n    image: " + busyboxImage + "\n    network_mode: none\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		return err
	}
	tar := filepath.Join(dir, "busybox.tar")
	if err := writeBusyboxTar(tar); err != nil {
		return err
	}
	c := exec.CommandContext(ctx, hoistBin, "--engine", "native", "image", "import", "--change", `CMD ["sh"]`, tar, busyboxImage)
	c.Env = env
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("native image import: %v: %s", err, out)
	}
	if exec.CommandContext(ctx, "docker", "image", "inspect", busyboxImage).Run() != nil {
		if out, err := exec.CommandContext(ctx, "docker", "import", "--change", `CMD ["sh"]`, tar, busyboxImage).CombinedOutput(); err != nil {
			return fmt.Errorf("docker import: %v: %s", err, out)
		}
	}
	return nil
}

// runGoal: native ≤ 0.05 s and at least 10× faster than docker run.
const runGoal = "native ≤ 0.050 s and ≥ 10× faster"

func (rb *runBench) report() string {
	if rb == nil {
		return ""
	}
	var s strings.Builder
	s.WriteString("\n## run: one-off container, `hoist --engine native run --rm box true` vs `docker run --rm " + busyboxImage + " true`\n\n")
	if rb.err != nil {
		fmt.Fprintf(&s, "error: %s\n\n", strings.ReplaceAll(strings.TrimSpace(rb.err.Error()), "\n", " / "))
	}
	h, okH := median(rb.hoist)
	u, _ := median(rb.usual)
	d, okD := median(rb.docker)
	if !okH || !okD {
		return s.String()
	}
	s.WriteString("- the native engine on its own root (HOIST_ROOT, HOIST_RUN_DIR under the bench's temporary directory); in turns, one untimed run of each first\n")
	s.WriteString("- hoist native: the command line run again, from the run cache (cmd/hoist/fastrun; HOIST_FASTRUN=require checks it is); the usual way: HOIST_FASTRUN=off, what the first run of a command line takes\n\n")
	verdict := "met"
	if !(h <= 0.05 && d >= 10*h) {
		verdict = "**missed**"
	}
	goal := fmt.Sprintf("%s: %s (%.3f s, %.1f×)", runGoal, verdict, h, d/h)
	s.WriteString(markdownTable(
		[]string{"n", "hoist native (s)", "the usual way (s)", "docker run (s)", "ratio native/docker", "speed-up", "usual way speed-up", "goal"},
		[][]string{{strconv.Itoa(len(rb.hoist)), fmtSecs(h), fmtSecs(u), fmtSecs(d), fmt.Sprintf("%.3f", h/d), fmt.Sprintf("%.1f×", d/h), fmt.Sprintf("%.1f×", d/u), goal}},
		nil))
	return s.String()
}

func (rb *runBench) raw() string {
	if rb == nil {
		return ""
	}
	var s strings.Builder
	for _, x := range []struct {
		name string
		xs   []float64
	}{{"hoist native", rb.hoist}, {"hoist native, the usual way", rb.usual}, {"docker run", rb.docker}} {
		if len(x.xs) == 0 {
			continue
		}
		parts := make([]string, len(x.xs))
		for i, v := range x.xs {
			parts[i] = fmtSecs(v)
		}
		fmt.Fprintf(&s, "- run / run --rm true / %s: %s\n", x.name, strings.Join(parts, ", "))
	}
	return s.String()
}
