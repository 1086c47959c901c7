package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/engine/native/runtime"
	"github.com/hoist-dev/hoist/engine/native/store"
)

// Teardown kills every process of the project whose supervisor dir is
// dir from the files alone, whether or not its supervisor lives: the
// supervisor first (so nothing restarts), then each recorded container's
// init (checked against its start time) and whatever is left in its
// cgroups, which are removed. A container recorded as running is recorded
// as exited with 137. The records, socket and supervisor.json are
// removed; state and log dirs stay.
func Teardown(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	var info Info
	if err := store.ReadJSON(filepath.Join(dir, InfoFile), &info); err == nil {
		if err := killWait(ctx, info.Pid, info.StartTime); err != nil {
			errs = append(errs, fmt.Errorf("kill supervisor: %w", err))
		}
	}
	paths, _ := filepath.Glob(filepath.Join(dir, containersDir, "*.json"))
	for _, p := range paths {
		var rec record
		if err := store.ReadJSON(p, &rec); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		st, err := runtime.ReadState(rec.Config.StateDir)
		running := err == nil && st.Status == runtime.StatusRunning
		if running {
			if err := killWait(ctx, st.Pid, st.StartTime); err != nil {
				errs = append(errs, fmt.Errorf("kill container %s: %w", rec.Config.ID, err))
			}
		}
		if err := runtime.RemoveCgroups(rec.Config.ID); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", rec.Config.ID, err))
		}
		if running {
			st.Status, st.ExitCode, st.FinishedAt = runtime.StatusExited, 137, time.Now().UTC()
			st.Error = "killed by teardown"
			if err := store.WriteJSON(filepath.Join(rec.Config.StateDir, store.StateFile), st); err != nil {
				errs = append(errs, err)
			}
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, f := range []string{SocketFile, InfoFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	_ = os.Remove(filepath.Join(dir, containersDir))
	if err := os.RemoveAll(filepath.Join(dir, publishedDir)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
