package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// newScale is docker compose's scale: up -d of the services named, each
// with its new replica count (up's --scale), their dependencies too
// unless --no-deps.
func newScale(a *app) *cobra.Command {
	var noDeps bool
	c := &cobra.Command{
		Use:   "scale [SERVICE=REPLICAS...]",
		Short: "Scale services",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var services []string
			for _, arg := range args {
				name, num, ok := strings.Cut(arg, "=")
				if _, err := strconv.Atoi(num); !ok || name == "" || err != nil {
					return fmt.Errorf("invalid scale specifier: %s (use SERVICE=REPLICAS)", arg)
				}
				services = append(services, name)
			}
			slices.Sort(services)
			return a.up(cmd.Context(), upFlags{detach: true, noDeps: noDeps, scale: args}, services)
		},
	}
	c.Flags().BoolVar(&noDeps, "no-deps", false, "don't start linked services")
	return c
}
