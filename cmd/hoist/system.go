package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

// newSystem is `hoist system`: the engine's host-wide chores (boot,
// check, install). Commands of other files join it through extra, so
// that each lives in a file of its own.
func newSystem(a *app, extra ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: "system", Short: "Host-wide chores of the native engine: boot, check, install"}
	c.AddCommand(newSystemCheck(a), newSystemBoot(a), newSystemInstall(a))
	c.AddCommand(extra...)
	return c
}

// errProblems makes `system check` exit 1 when it found problems it did
// not repair, without one more line on stderr.
var errProblems = exitCode(1)

func newSystemCheck(a *app) *cobra.Command {
	var opts engine.CheckOptions
	c := &cobra.Command{
		Use:   "check [--full] [--repair]",
		Short: "Verify the native store: blobs, images, layers, container records",
		Long: `Verifies every blob against its digest, every image index entry against its
manifest, config and layers, and every container record against its layers;
with --full also every unpacked layer against its layer's digest. Prints one
problem a line. With --repair, removes what cannot be trusted (an image to
pull or load again, a container to create again) or unpacks a layer again
from its blob; a named volume is never removed. Exits 1 when a problem is
left unrepaired.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withOrchestrator(cmd.Context(), func(o *orchestrate.Orchestrator) error {
				ps, err := o.CheckStore(cmd.Context(), opts)
				left := false
				for _, p := range ps {
					line := p.Path + ": " + p.What
					if p.Repaired != "" {
						line += " (repaired: " + p.Repaired + ")"
					} else {
						left = true
					}
					fmt.Fprintln(a.stdout, line)
				}
				if err != nil {
					return err
				}
				if left {
					return errProblems
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&opts.Full, "full", false, "also read every unpacked layer against its digest")
	c.Flags().BoolVar(&opts.Repair, "repair", false, "remove what cannot be trusted (never a named volume)")
	return c
}

func newSystemBoot(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "boot",
		Short: "After the host booted, start the containers that restart always or unless-stopped",
		Long: `Makes the native engine's run state (which lives under the volatile /run)
again from the store and starts every container whose restart policy is always
or unless-stopped and that was not stopped with hoist stop, with its volumes as
they were; other containers stay exited. Safe to run at any time: running
containers are left alone. hoist system install runs it at boot.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withOrchestrator(cmd.Context(), func(o *orchestrate.Orchestrator) error {
				rep, err := o.Boot(cmd.Context())
				sort.Strings(rep.Started)
				for _, n := range rep.Started {
					fmt.Fprintf(a.stdout, "started %s\n", n)
				}
				names := make([]string, 0, len(rep.Failed))
				for n := range rep.Failed {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintf(a.stderr, "hoist: %s did not start: %s\n", n, rep.Failed[n])
				}
				if err != nil {
					return err
				}
				if len(names) > 0 {
					return fmt.Errorf("%d container(s) did not start", len(names))
				}
				return nil
			})
		},
	}
}

//go:embed unit/hoist.service
var unitTemplate string

// noSystemd tells what to do on a host without systemd.
const noSystemd = `this host does not run systemd (no /run/systemd/system): run hoist system boot at boot another way:
  OpenRC:  printf '#!/bin/sh\n%[1]s --engine native system boot\n' > /etc/local.d/hoist.start
           chmod +x /etc/local.d/hoist.start; rc-update add local default
  cron:    echo '@reboot root %[1]s --engine native system boot' > /etc/cron.d/hoist
`

func newSystemInstall(a *app) *cobra.Command {
	var unitDir string
	var print bool
	c := &cobra.Command{
		Use:   "install",
		Short: "Install and enable hoist.service, which runs hoist system boot at boot",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			unit := a.unit(self)
			if print {
				fmt.Fprint(a.stdout, unit)
				return nil
			}
			if _, err := os.Stat(a.systemdRunDir()); errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(a.stdout, noSystemd, self)
				return fmt.Errorf("hoist.service not installed: no systemd")
			}
			path := filepath.Join(unitDir, "hoist.service")
			if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
				return fmt.Errorf("install %s: %w", path, err)
			}
			systemctl := a.getenv("HOIST_SYSTEMCTL") // tests give a stand-in
			if systemctl == "" {
				systemctl = "systemctl"
			}
			for _, args := range [][]string{{"daemon-reload"}, {"enable", "hoist.service"}} {
				if out, err := exec.CommandContext(cmd.Context(), systemctl, args...).CombinedOutput(); err != nil {
					return fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
				}
			}
			fmt.Fprintf(a.stdout, "installed and enabled %s\n", path)
			return nil
		},
	}
	c.Flags().StringVar(&unitDir, "unit-dir", "/etc/systemd/system", "where to write hoist.service")
	c.Flags().BoolVar(&print, "print", false, "print the unit instead of installing it")
	return c
}

// systemdRunDir exists when systemd is the init (sd_booted(3));
// HOIST_SYSTEMD_RUN_DIR points elsewhere for tests.
func (a *app) systemdRunDir() string {
	if d := a.getenv("HOIST_SYSTEMD_RUN_DIR"); d != "" {
		return d
	}
	return "/run/systemd/system"
}

// unit is hoist.service for the binary self, with the store's locations
// when they are not the defaults.
func (a *app) unit(self string) string {
	var env strings.Builder
	for _, k := range []string{"HOIST_ROOT", "HOIST_RUN_DIR"} {
		if v := a.getenv(k); v != "" {
			fmt.Fprintf(&env, "Environment=%s=%s\n", k, v)
		}
	}
	return strings.NewReplacer("@HOIST@", self, "@ENVIRONMENT@\n", env.String()).Replace(unitTemplate)
}
