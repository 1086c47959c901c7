package docker

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/hoist-dev/hoist/engine"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		status string
		health string
		code   int
	}{
		{"Up 5 seconds", "", 0},
		{"Up 5 seconds (healthy)", engine.HealthHealthy, 0},
		{"Up About a minute (unhealthy)", engine.HealthUnhealthy, 0},
		{"Up 1 second (health: starting)", engine.HealthStarting, 0},
		{"Exited (3) 2 minutes ago", "", 3},
		{"Exited (137) About an hour ago", "", 137},
		{"Restarting (1) 4 seconds ago", "", 1},
		{"Created", "", 0},
		{"Up 2 hours (Paused)", "", 0},
	}
	for _, tt := range tests {
		h, c := parseStatus(tt.status)
		if h != tt.health || c != tt.code {
			t.Errorf("parseStatus(%q) = %q, %d; want %q, %d", tt.status, h, c, tt.health, tt.code)
		}
	}
}

func webSummary() container.Summary {
	return container.Summary{
		ID:      "abc",
		Names:   []string{"/p-web-2"},
		Image:   "nginx:1",
		ImageID: "sha256:img",
		Created: 1700000000,
		State:   container.StateRunning,
		Status:  "Up 3 minutes (healthy)",
		Labels: map[string]string{
			engine.LabelProject:    "p",
			engine.LabelService:    "web",
			engine.LabelNumber:     "2",
			engine.LabelConfigHash: "h1",
			engine.LabelOneOff:     "False",
		},
		Ports: []container.Port{
			{IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
			{IP: "0.0.0.0", PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, // listed twice by some daemons
			{IP: "::", PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
			{PrivatePort: 443, Type: "tcp"}, // exposed, not published
			{IP: "127.0.0.1", PrivatePort: 53, PublicPort: 5353, Type: "udp"},
		},
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
			"p_front": {}, "p_back": {},
		}},
	}
}

func TestContainerFromSummary(t *testing.T) {
	got := containerFromSummary(webSummary())
	want := engine.Container{
		ID: "abc", Name: "p-web-2", Project: "p", Service: "web", Number: 2, ConfigHash: "h1",
		Image: "nginx:1", ImageID: "sha256:img", State: "running", Health: "healthy",
		Created: time.Unix(1700000000, 0),
		Ports: []engine.PortBinding{
			{HostIP: "127.0.0.1", HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
			{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
			{HostIP: "::", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		},
		Networks: []string{"p_back", "p_front"},
		Labels:   webSummary().Labels,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("containerFromSummary:\n got %+v\nwant %+v", got, want)
	}

	s := webSummary()
	s.State, s.Status = container.StateExited, "Exited (2) 1 second ago"
	s.Labels[engine.LabelOneOff] = "True"
	c := containerFromSummary(s)
	if c.State != engine.StateExited || c.ExitCode != 2 || c.Health != "" || !c.OneOff {
		t.Errorf("exited one-off: state %q code %d health %q oneoff %v", c.State, c.ExitCode, c.Health, c.OneOff)
	}
}

func TestObserve(t *testing.T) {
	f := &fakeAPI{
		containers: []container.Summary{webSummary()},
		networks:   []network.Summary{{ID: "n1", Name: "p_default", Labels: map[string]string{engine.LabelProject: "p"}}},
		volumes:    []*volume.Volume{{Name: "p_data"}, nil},
		images: []image.Summary{
			{ID: "sha256:redis", RepoTags: []string{"redis:latest"}},
			{ID: "sha256:app", RepoTags: []string{"ghcr.io/x/app:1"}, RepoDigests: []string{"ghcr.io/x/app@sha256:0123456789012345678901234567890123456789012345678901234567890123"}},
		},
		inspect: map[string]image.InspectResponse{"sha256:byid": {ID: "sha256:byid"}},
	}
	b := &Backend{api: f}
	refs := []string{"redis", "docker.io/library/redis:latest", "ghcr.io/x/app:1", "sha256:byid", "missing:1",
		"ghcr.io/x/app@sha256:0123456789012345678901234567890123456789012345678901234567890123"}
	st, err := b.Observe(context.Background(), "p", refs)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.listFilter.Get("label"); !reflect.DeepEqual(got, []string{engine.LabelProject + "=p"}) {
		t.Errorf("container list filter label = %v", got)
	}
	if len(st.Containers) != 1 || st.Containers[0].Name != "p-web-2" {
		t.Errorf("containers = %+v", st.Containers)
	}
	if !reflect.DeepEqual(st.Networks, []engine.Network{{ID: "n1", Name: "p_default", Labels: map[string]string{engine.LabelProject: "p"}}}) {
		t.Errorf("networks = %+v", st.Networks)
	}
	if !reflect.DeepEqual(st.Volumes, []engine.Volume{{Name: "p_data"}}) {
		t.Errorf("volumes = %+v", st.Volumes)
	}
	want := map[string]string{
		"redis":                          "sha256:redis",
		"docker.io/library/redis:latest": "sha256:redis",
		"ghcr.io/x/app:1":                "sha256:app",
		"sha256:byid":                    "sha256:byid",
		"ghcr.io/x/app@sha256:0123456789012345678901234567890123456789012345678901234567890123": "sha256:app",
	}
	if !reflect.DeepEqual(st.ImageIDs, want) {
		t.Errorf("ImageIDs = %v\nwant %v", st.ImageIDs, want)
	}
}
