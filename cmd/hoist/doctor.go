package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine/native/rootless"
)

// newDoctor is hoist doctor: what the rootless native engine needs here,
// each with what to do.
func newDoctor(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check what the native engine needs to run as this user (rootless)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			uid, gid := os.Getuid(), os.Getgid()
			name := rootless.UserName(uid)
			if uid == 0 {
				fmt.Fprintln(a.stdout, "running as root: the native engine runs as root here; these checks are for the rootless engine of other users")
			}
			failed := 0
			for _, f := range rootless.Doctor(name, uid, gid) {
				mark := "ok  "
				switch {
				case f.OK:
				case f.Warn:
					mark = "warn"
				default:
					mark = "FAIL"
					failed++
				}
				fmt.Fprintf(a.stdout, "%s %s: %s\n", mark, f.Check, f.Detail)
				if f.Fix != "" && !f.OK {
					fmt.Fprintf(a.stdout, "     to do: %s\n", f.Fix)
				}
			}
			if failed > 0 {
				return errors.New("the rootless native engine cannot run here until the failed checks are fixed")
			}
			return nil
		},
	}
}
