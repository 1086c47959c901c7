package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
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
			err := a.withContainers(cmd.Context(), args, true, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				sizes, err := o.ImageSizes(cmd.Context())
				if err != nil {
					return err
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
// shows them: a bare name's tag is "latest", a digest-only one's
// "<none>", and an image ID (what Docker lists for a container whose tag
// moved to another image) is "<none>" for both.
func splitRef(ref string) (repo, tag string) {
	if strings.HasPrefix(ref, "sha256:") {
		return "<none>", "<none>"
	}
	name, _, digested := strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[:i], name[i+1:]
	}
	if digested {
		return name, "<none>"
	}
	return name, "latest"
}

// humanSize is a size as docker prints it (3 significant digits).
func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

func printImages(w io.Writer, rows []imageEntry, quiet bool, format string) error {
	if quiet {
		seen := map[string]bool{}
		for _, r := range rows {
			if id := strings.TrimPrefix(r.ID, "sha256:"); !seen[id] {
				seen[id] = true
				fmt.Fprintln(w, id)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ContainerName, r.Repository, r.Tag, id, humanSize(r.Size))
	}
	return tw.Flush()
}
