package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/internal/testimage"
)

// The run scenario times a one-off container: `hoist --engine native run
// --rm box true` against `docker run --rm <busybox> true`, alternating, in
// the same run. The native engine runs on its own root and run dir under
// the bench's temporary directory, with the busybox image imported there.
// Goal ("Native engine, part 1"): hoist ≤ 0.05 s and ≥ 10× faster.

const runRuns = 20

type runBench struct {
	hoist, docker []float64
	err           error
}

func (b *bench) runRunScenario(ctx context.Context, hoistBin string) *runBench {
	rb := &runBench{}
	dir := filepath.Join(b.tmp, "run")
	env := append(os.Environ(), "HOIST_ROOT="+filepath.Join(dir, "root"), "HOIST_RUN_DIR="+filepath.Join(dir, "state"))
	if rb.err = prepareRun(ctx, dir, hoistBin, env); rb.err != nil {
		return rb
	}
	hoistCmd := []string{hoistBin, "--engine", "native", "run", "--rm", "box", "true"}
	dockerCmd := []string{"docker", "run", "--rm", busyboxImage, "true"}
	once := func(argv []string) (time.Duration, error) {
		c := exec.CommandContext(ctx, argv[0], argv[1:]...)
		c.Dir, c.Env = dir, env
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
	// One untimed run each warms the page cache.
	for _, argv := range [][]string{hoistCmd, dockerCmd} {
		if _, rb.err = once(argv); rb.err != nil {
			return rb
		}
	}
	for i := 0; i < runRuns && ctx.Err() == nil; i++ {
		order := []*[]float64{&rb.hoist, &rb.docker}
		argvs := [][]string{hoistCmd, dockerCmd}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
			argvs[0], argvs[1] = argvs[1], argvs[0]
		}
		for k, argv := range argvs {
			d, err := once(argv)
			if err != nil {
				rb.err = err
				return rb
			}
			*order[k] = append(*order[k], d.Seconds())
		}
	}
	return rb
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
	f, err := os.Create(tar)
	if err != nil {
		return err
	}
	err = testimage.WriteRootfs(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
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

func (rb *runBench) report() string {
	if rb == nil {
		return ""
	}
	var s strings.Builder
	s.WriteString("\n## run: one-off container, `run --rm box true`\n\n")
	if rb.err != nil {
		fmt.Fprintf(&s, "error: %v\n", rb.err)
	}
	h, okH := median(rb.hoist)
	d, okD := median(rb.docker)
	if !okH || !okD {
		return s.String()
	}
	fmt.Fprintf(&s, "| n | hoist --engine native (s) | docker run (s) | ratio hoist/docker | goal |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&s, "| %d | %.3f | %.3f | %.3f | hoist ≤ 0.050 and ratio ≤ 0.10 |\n", len(rb.hoist), h, d, h/d)
	return s.String()
}
