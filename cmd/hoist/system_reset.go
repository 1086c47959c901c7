package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine/native/rootless"
	"github.com/hoist-dev/hoist/internal/userns"
)

// newSystemReset is hoist system reset: a user's rootless store and run
// state go, with every project in them.
func newSystemReset(a *app) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "reset",
		Short: "Remove this user's rootless native store and run state, with every project in them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			// Checked first, in the holder's namespaces too (the host
			// side passes its own --force on): hoist run in any other
			// user namespace (unshare -r, a toolbox) with HOIST_ROOT set
			// would otherwise empty that directory unasked.
			if !force {
				return errors.New("system reset removes every rootless project, image, volume and build cache of this user: run it with --force")
			}
			if userns.Inside() {
				// In a holder's namespaces (below): as their root, which
				// may remove the files of the user's subordinate ids.
				var errs []error
				for _, d := range []string{a.getenv("HOIST_ROOT"), a.getenv("HOIST_RUN_DIR")} {
					if d == "" {
						continue
					}
					ents, _ := os.ReadDir(d)
					for _, e := range ents {
						// The holder's own record is in use while it runs;
						// the host side removes the anchors dir last.
						if e.Name() == "anchors" {
							continue
						}
						errs = append(errs, os.RemoveAll(filepath.Join(d, e.Name())))
					}
				}
				return errors.Join(errs...)
			}
			if os.Geteuid() == 0 {
				return errors.New("system reset removes a user's rootless engine; as root, hoist down each project and remove /var/lib/hoist and /run/hoist yourself")
			}
			dirs, err := rootless.DirsFor(a.getenv, os.Getuid())
			if err != nil {
				return err
			}
			if !looksLikeStore(dirs.Root) {
				return fmt.Errorf("system reset: %s has files but is not a hoist store (no containers dir, no index.json): not removing it; check HOIST_ROOT and XDG_DATA_HOME", dirs.Root)
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			// Each project goes as down takes it: containers, networks,
			// anchor.
			for _, p := range rootless.AnchoredProjects(dirs.RunDir) {
				down := exec.CommandContext(ctx, exe, "--engine", "native", "-p", p, "down", "-t", "0", "--remove-orphans", "-v")
				down.Env = a.environ
				down.Stdout, down.Stderr = a.stderr, a.stderr
				if err := down.Run(); err != nil {
					fmt.Fprintf(a.stderr, "WARN down of project %s: %v (its anchor is ended anyway)\n", p, err)
				}
				if err := rootless.Stop(ctx, dirs.RunDir, p); err != nil {
					return err
				}
			}
			if err := a.runRootless(ctx); err != nil {
				var ec exitCode
				if !errors.As(err, &ec) || ec != 0 {
					return err
				}
			}
			if err := os.RemoveAll(filepath.Join(dirs.RunDir, "anchors")); err != nil {
				return err
			}
			for _, d := range []string{dirs.Root, dirs.RunDir} {
				if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("system reset: %w", err)
				}
			}
			fmt.Fprintf(a.stdout, "removed %s and %s\n", dirs.Root, dirs.RunDir)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "do it (there is no undo)")
	return c
}

// looksLikeStore reports whether root is empty or has what the native
// store always makes there (store.Layout.Init's containers dir, or the
// image index): a HOIST_ROOT mistyped as the home or a project directory
// must not be emptied.
func looksLikeStore(root string) bool {
	ents, err := os.ReadDir(root)
	if err != nil || len(ents) == 0 {
		return true
	}
	for _, name := range []string{"containers", "index.json"} {
		if _, err := os.Lstat(filepath.Join(root, name)); err == nil {
			return true
		}
	}
	return false
}
