package main

// Per-engine bookkeeping: what a project left on dockerd or on the native
// engine, and removing it whatever state a run left.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/engine/native/store"
	"github.com/hoist-dev/hoist/engine/native/supervisor"
	"github.com/hoist-dev/hoist/internal/testimage"
)

// nativeRunBase is the native engine's run directory (HOIST_RUN_DIR unset).
const nativeRunBase = store.DefaultRunDir

func nativeRunDir(project string) string { return filepath.Join(nativeRunBase, project) }

// leftoversOn counts the project's containers on engine (native or docker),
// plus one for a native project's run directory still there.
func (b *bench) leftoversOn(engine, project string) int {
	if engine == "native" {
		return b.nativeLeftovers(project)
	}
	return b.leftovers(project)
}

// nativeLeftovers counts the native project's containers (hoist ps -aq),
// plus one when its run directory is still there.
func (b *bench) nativeLeftovers(project string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := 0
	c := exec.CommandContext(ctx, b.hoist, "--engine", "native", "-p", project, "ps", "-aq")
	c.Dir = b.tmp // no compose file here: the project is found by name
	if out, err := c.Output(); err == nil {
		n += len(strings.Fields(string(out)))
	}
	if _, err := os.Stat(nativeRunDir(project)); err == nil {
		n++
	}
	return n
}

// clean removes what the project left on engine.
func (b *bench) clean(engine, project string) {
	if engine == "native" {
		b.nativeClean(project)
		return
	}
	b.forceClean(project)
}

// nativeClean runs hoist down (-v, -t 0, orphans too) on the native
// project by name; a run directory left without a live supervisor is
// removed too.
func (b *bench) nativeClean(project string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, b.hoist, "--engine", "native", "-p", project, "--progress", "quiet", "down", "-v", "-t", "0", "--remove-orphans")
	c.Dir = b.tmp
	if out, err := c.CombinedOutput(); err != nil {
		b.logf("native down of %s: %v: %s", project, err, tail(string(out), 5))
	}
	dir := nativeRunDir(project)
	if _, err := os.Stat(dir); err != nil {
		return
	}
	if pid, ok := supervisor.Running(dir); ok {
		b.logf("%s: down left the supervisor (pid %d) running; not touching it", dir, pid)
		return
	}
	b.logf("%s: down left the run directory; removing it", dir)
	_ = os.RemoveAll(dir)
}

func writeBusyboxTar(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = testimage.WriteRootfs(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
