package docker

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/hoist-dev/hoist/engine"
)

// Observe lists the project's containers (stopped ones too), networks and
// volumes by label, and resolves imageRefs to local IDs. It makes one list
// call per kind, concurrently, and no per-container inspect: the container
// list already carries state, labels, ports and image ID, and health and
// exit code are parsed from its Status text. This keeps a no-op `up` fast.
func (b *Backend) Observe(ctx context.Context, project string, imageRefs []string) (*engine.State, error) {
	byProject := filters.NewArgs(filters.Arg("label", engine.LabelProject+"="+project))
	st := &engine.State{ImageIDs: map[string]string{}}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		list, err := b.api.ContainerList(gctx, container.ListOptions{All: true, Filters: byProject})
		if err != nil {
			return fmt.Errorf("list containers of project %q: %w", project, mapErr(err))
		}
		st.Containers = make([]engine.Container, 0, len(list))
		for _, s := range list {
			st.Containers = append(st.Containers, containerFromSummary(s))
		}
		sort.Slice(st.Containers, func(i, j int) bool { return st.Containers[i].Name < st.Containers[j].Name })
		return nil
	})
	g.Go(func() error {
		list, err := b.api.NetworkList(gctx, network.ListOptions{Filters: byProject})
		if err != nil {
			return fmt.Errorf("list networks of project %q: %w", project, mapErr(err))
		}
		for _, n := range list {
			st.Networks = append(st.Networks, engine.Network{ID: n.ID, Name: n.Name, Labels: n.Labels})
		}
		sort.Slice(st.Networks, func(i, j int) bool { return st.Networks[i].Name < st.Networks[j].Name })
		return nil
	})
	g.Go(func() error {
		resp, err := b.api.VolumeList(gctx, volume.ListOptions{Filters: byProject})
		if err != nil {
			return fmt.Errorf("list volumes of project %q: %w", project, mapErr(err))
		}
		for _, v := range resp.Volumes {
			if v != nil {
				st.Volumes = append(st.Volumes, engine.Volume{Name: v.Name, Labels: v.Labels, Driver: v.Driver, Mountpoint: v.Mountpoint})
			}
		}
		sort.Slice(st.Volumes, func(i, j int) bool { return st.Volumes[i].Name < st.Volumes[j].Name })
		return nil
	})
	if len(imageRefs) > 0 {
		g.Go(func() error {
			ids, err := b.resolveImages(gctx, imageRefs)
			st.ImageIDs = ids
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return st, nil
}

// resolveImages maps refs to IDs with one image list; refs the list cannot
// answer (IDs, digests of untagged images) fall back to an inspect each.
func (b *Backend) resolveImages(ctx context.Context, refs []string) (map[string]string, error) {
	ids := make(map[string]string, len(refs))
	list, err := b.api.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", mapErr(err))
	}
	known := make(map[string]string)
	for _, img := range list {
		for _, t := range img.RepoTags {
			known[t] = img.ID
		}
		for _, d := range img.RepoDigests {
			known[d] = img.ID
		}
	}
	for _, ref := range refs {
		if id, ok := known[normalizeRef(ref)]; ok {
			ids[ref] = id
			continue
		}
		id, err := b.ImageID(ctx, ref)
		switch {
		case err == nil:
			ids[ref] = id
		case isNotFound(err):
			// absent from the map means "not present"
		default:
			return nil, err
		}
	}
	return ids, nil
}

// normalizeRef turns a reference into the familiar form the daemon lists in
// RepoTags ("redis" -> "redis:latest"); unparsable refs are returned as is.
func normalizeRef(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	if _, digested := named.(reference.Digested); digested {
		return reference.FamiliarString(named)
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

// containerFromSummary fills an engine.Container from one list entry.
func containerFromSummary(s container.Summary) engine.Container {
	c := engine.Container{
		ID:         s.ID,
		Project:    s.Labels[engine.LabelProject],
		Service:    s.Labels[engine.LabelService],
		ConfigHash: s.Labels[engine.LabelConfigHash],
		OneOff:     strings.EqualFold(s.Labels[engine.LabelOneOff], "true"),
		Image:      s.Image,
		ImageID:    s.ImageID,
		State:      string(s.State),
		Created:    time.Unix(s.Created, 0),
		Labels:     s.Labels,
	}
	if len(s.Names) > 0 {
		c.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	if n, err := strconv.Atoi(s.Labels[engine.LabelNumber]); err == nil {
		c.Number = n
	}
	c.Health, c.ExitCode = parseStatus(s.Status)
	seen := map[engine.PortBinding]bool{}
	for _, p := range s.Ports {
		if p.PublicPort == 0 {
			continue // exposed only
		}
		pb := engine.PortBinding{HostIP: p.IP, HostPort: p.PublicPort, ContainerPort: p.PrivatePort, Protocol: p.Type}
		if !seen[pb] {
			seen[pb] = true
			c.Ports = append(c.Ports, pb)
		}
	}
	sortPorts(c.Ports)
	if s.NetworkSettings != nil {
		for name := range s.NetworkSettings.Networks {
			c.Networks = append(c.Networks, name)
		}
		sortStrings(c.Networks)
	}
	return c
}

func sortStrings(s []string) { sort.Strings(s) }

func sortPorts(p []engine.PortBinding) {
	sort.Slice(p, func(i, j int) bool { return portLess(p[i], p[j]) })
}

func portLess(a, b engine.PortBinding) bool {
	if a.ContainerPort != b.ContainerPort {
		return a.ContainerPort < b.ContainerPort
	}
	if a.Protocol != b.Protocol {
		return a.Protocol < b.Protocol
	}
	if a.HostIP != b.HostIP {
		return a.HostIP < b.HostIP
	}
	return a.HostPort < b.HostPort
}

// parseStatus reads health and exit code from the list's human Status, for
// example "Up 5 seconds (healthy)", "Up 1 second (health: starting)" or
// "Exited (3) 2 minutes ago". Parsing it saves an inspect per container.
func parseStatus(status string) (health string, exitCode int) {
	switch {
	case strings.Contains(status, "(healthy)"):
		health = engine.HealthHealthy
	case strings.Contains(status, "(unhealthy)"):
		health = engine.HealthUnhealthy
	case strings.Contains(status, "(health: starting)"):
		health = engine.HealthStarting
	}
	for _, prefix := range []string{"Exited (", "Restarting ("} {
		rest, ok := strings.CutPrefix(status, prefix)
		if !ok {
			continue
		}
		if num, _, ok := strings.Cut(rest, ")"); ok {
			if n, err := strconv.Atoi(num); err == nil {
				exitCode = n
			}
		}
	}
	return health, exitCode
}
