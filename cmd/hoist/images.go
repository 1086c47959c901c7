package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
)

// imageEntry mirrors docker compose's `images --format json` fields.
type imageEntry struct {
	ID            string `json:"ID"`
	ContainerName string `json:"ContainerName"`
	Repository    string `json:"Repository"`
	Tag           string `json:"Tag"`
	Size          int64  `json:"Size"`
}

// newImages is docker compose's `images`: the images of the project's
// containers (one-off ones too), not the whole store (`image ls`).
func newImages(a *app) *cobra.Command {
	var quiet bool
	var format string
	c := &cobra.Command{
		Use:   "images [SERVICE...]",
		Short: "List the images of the project's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("images --format %q: use table or json", format)
			}
			var rows []imageEntry
			err := a.withContainers(cmd.Context(), args, true, func(b engine.Backend, _ string, cs []engine.Container) error {
				sizes := map[string]int64{}
				if l, ok := b.(engine.ImageLister); ok {
					list, err := l.ListImages(cmd.Context())
					if err != nil {
						return err
					}
					for _, im := range list {
						sizes[im.ID] = im.Size
					}
				}
				rows = imageRows(cs, sizes)
				return nil
			})
			if err != nil {
				return err
			}
			return printImages(a.stdout, rows, quiet, format)
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only the image IDs")
	c.Flags().StringVar(&format, "format", "table", "table or json")
	return c
}

func imageRows(cs []engine.Container, sizes map[string]int64) []imageEntry {
	rows := make([]imageEntry, 0, len(cs))
	for _, c := range cs {
		repo, tag := splitRef(c.Image)
		rows = append(rows, imageEntry{ID: c.ImageID, ContainerName: c.Name, Repository: repo, Tag: tag, Size: sizes[c.ImageID]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ContainerName < rows[j].ContainerName })
	return rows
}

// splitRef splits an image reference into repository and tag, as docker
// shows them: a digest reference has the tag "<none>", a bare name
// "latest".
func splitRef(ref string) (repo, tag string) {
	if name, _, ok := strings.Cut(ref, "@"); ok {
		return name, "<none>"
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

func printImages(w io.Writer, rows []imageEntry, quiet bool, format string) error {
	if quiet {
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				fmt.Fprintln(w, r.ID)
			}
		}
		return nil
	}
	if format == "json" {
		return json.NewEncoder(w).Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE")
	for _, r := range rows {
		id := strings.TrimPrefix(r.ID, "sha256:")
		if len(id) > 12 {
			id = id[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1fMB\n", r.ContainerName, r.Repository, r.Tag, id, float64(r.Size)/1e6)
	}
	return tw.Flush()
}
