package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/orchestrate"
)

func newVolumes(a *app) *cobra.Command {
	var quiet bool
	var format string
	c := &cobra.Command{
		Use:   "volumes [OPTIONS] [SERVICE...]",
		Short: "List volumes",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			tmpl, table, err := rowTemplate(format, "table {{.Driver}}\t{{.Name}}", map[string]string{"Name": "VOLUME NAME"}, "'{{.Name}}'")
			if err != nil {
				return err
			}
			return a.withNamedProject(ctx, func(name string, p *types.Project, o *orchestrate.Orchestrator) error {
				vols, err := o.Volumes(ctx, name, p, args)
				if err != nil {
					return err
				}
				if quiet {
					for _, v := range vols {
						fmt.Fprintln(a.stdout, v.Name)
					}
					return nil
				}
				rows := make([]any, 0, len(vols))
				for _, v := range vols {
					var labels []string
					for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
						labels = append(labels, k+"="+v.Labels[k])
					}
					rows = append(rows, volumeRow{
						Availability: "N/A", Driver: v.Driver, Group: "N/A", Labels: strings.Join(labels, ","), Links: "N/A",
						Mountpoint: v.Mountpoint, Name: v.Name, Scope: "local", Size: "N/A", Status: "N/A",
					})
				}
				return writeRows(a.stdout, tmpl, table, rows)
			})
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display volume names")
	c.Flags().StringVar(&format, "format", "table", "output format: table, table TEMPLATE, json or a Go template")
	return c
}

// volumeRow is one line of volumes: docker volume ls's fields.
type volumeRow struct {
	Availability string `json:"Availability"`
	Driver       string `json:"Driver"`
	Group        string `json:"Group"`
	Labels       string `json:"Labels"`
	Links        string `json:"Links"`
	Mountpoint   string `json:"Mountpoint"`
	Name         string `json:"Name"`
	Scope        string `json:"Scope"`
	Size         string `json:"Size"`
	Status       string `json:"Status"`
}
