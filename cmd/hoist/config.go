package main

import (
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/compose"
)

func newConfig(a *app) *cobra.Command {
	var format, hash string
	var services, volumes, networks, images, profiles, quiet bool
	c := &cobra.Command{
		Use:   "config [SERVICE...]",
		Short: "Validate and print the normalized compose model",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.loadModel(cmd.Context())
			if err != nil {
				return err
			}
			if len(args) > 0 {
				// As docker compose: the services named (enabled even when
				// their profile is not) and what they depend on; depends_on
				// entries naming what is left out go.
				if p, err = p.WithServicesEnabled(args...); err != nil {
					return err
				}
				if p, err = p.WithSelectedServices(args); err != nil {
					return err
				}
			}
			switch {
			case quiet:
				return nil
			case services:
				names := p.ServiceNames()
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintln(a.stdout, n)
				}
				return nil
			case volumes:
				for _, n := range sortedKeysOf(p.Volumes) {
					fmt.Fprintln(a.stdout, n)
				}
				return nil
			case networks:
				for _, n := range sortedKeysOf(p.Networks) {
					fmt.Fprintln(a.stdout, n)
				}
				return nil
			case images:
				for _, n := range sortedKeysOf(p.Services) {
					fmt.Fprintln(a.stdout, compose.ImageRef(p, p.Services[n]))
				}
				return nil
			case profiles:
				set := map[string]bool{}
				for _, s := range p.AllServices() {
					for _, pr := range s.Profiles {
						set[pr] = true
					}
				}
				for _, n := range sortedKeysOf(set) {
					fmt.Fprintln(a.stdout, n)
				}
				return nil
			case hash != "":
				// docker compose's hash (the one the docker engine's
				// containers carry), as docker compose config --hash
				// prints it: references to other services' containers
				// are left as written.
				names := sortedKeysOf(p.Services)
				if hash != "*" {
					names = strings.Split(hash, ",")
				}
				for _, n := range names {
					s, ok := p.Services[n]
					if !ok {
						return fmt.Errorf("config --hash: no such service: %q", n)
					}
					h, err := compose.DockerComposeHash(s, nil)
					if err != nil {
						return err
					}
					fmt.Fprintln(a.stdout, n, h)
				}
				return nil
			}
			out, err := compose.Render(p, format)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}
	fl := c.Flags()
	fl.StringVar(&format, "format", "yaml", "yaml or json")
	fl.BoolVar(&services, "services", false, "print the service names")
	fl.BoolVar(&volumes, "volumes", false, "print the volume names")
	fl.BoolVar(&networks, "networks", false, "print the network names")
	fl.BoolVar(&images, "images", false, "print the image of each service")
	fl.BoolVar(&profiles, "profiles", false, "print the profile names")
	fl.StringVar(&hash, "hash", "", `print the config hash of these services (comma-separated, or "*")`)
	fl.BoolVarP(&quiet, "quiet", "q", false, "only validate")
	return c
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newGraph(a *app) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "graph",
		Short: "Print the dependency graph (DOT or Mermaid)",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.load(cmd.Context())
			if err != nil {
				return err
			}
			switch format {
			case "dot", "":
				fmt.Fprint(a.stdout, compose.DOT(p))
			case "mermaid":
				fmt.Fprint(a.stdout, compose.Mermaid(p))
			default:
				return fmt.Errorf("--format %q: use dot or mermaid", format)
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "dot", "dot or mermaid")
	return c
}

func newVersion(a *app) *cobra.Command {
	var short bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print hoist's version",
		RunE: func(cmd *cobra.Command, args []string) error {
			if short {
				fmt.Fprintln(a.stdout, version)
				return nil
			}
			fmt.Fprintf(a.stdout, "hoist version %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(a.stdout, "engine: %s\n", a.engineChoice(cmd.Context()))
			return nil
		},
	}
	c.Flags().BoolVar(&short, "short", false, "only the version number")
	return c
}
