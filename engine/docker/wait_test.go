package docker

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/hoist-dev/hoist/engine"
)

func inspectWith(status container.ContainerState, health container.HealthStatus, exit int, probe string) container.InspectResponse {
	st := &container.State{Status: status, ExitCode: exit}
	if health != "" {
		st.Health = &container.Health{Status: health, Log: []*container.HealthcheckResult{{ExitCode: 1, Output: "old"}, {ExitCode: 1, Output: probe}}}
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: "id1", Name: "/p-db-1", State: st},
		Config:            &container.Config{Labels: map[string]string{engine.LabelNumber: "1"}},
	}
}

func TestReached(t *testing.T) {
	tests := []struct {
		name    string
		info    container.InspectResponse
		cond    engine.WaitCondition
		done    bool
		wantErr string
	}{
		{"created, want running", inspectWith("created", "", 0, ""), engine.WaitRunning, false, ""},
		{"running", inspectWith("running", "", 0, ""), engine.WaitRunning, true, ""},
		{"exited, want running", inspectWith("exited", "", 2, ""), engine.WaitRunning, false, `container "p-db-1" exited with code 2`},
		{"restarting, want running", inspectWith("restarting", "", 1, ""), engine.WaitRunning, false, ""},
		{"no healthcheck counts as healthy", inspectWith("running", "", 0, ""), engine.WaitHealthy, true, ""},
		{"starting", inspectWith("running", "starting", 0, ""), engine.WaitHealthy, false, ""},
		{"healthy", inspectWith("running", "healthy", 0, ""), engine.WaitHealthy, true, ""},
		{"unhealthy", inspectWith("running", "unhealthy", 0, "db not ready\n"), engine.WaitHealthy, false, `container "p-db-1" is unhealthy: db not ready`},
		{"exit while starting", inspectWith("exited", "starting", 4, ""), engine.WaitHealthy, false, `container "p-db-1" exited with code 4 while waiting for it to be healthy: last healthcheck: exit code 1`},
		{"running, want exited", inspectWith("running", "", 0, ""), engine.WaitExited, false, ""},
		{"exited", inspectWith("exited", "", 5, ""), engine.WaitExited, true, ""},
		{"dead", inspectWith("dead", "", 137, ""), engine.WaitExited, true, ""},
	}
	for _, tt := range tests {
		c := containerFromInspect(tt.info)
		done, err := reached(c, tt.info, tt.cond)
		if done != tt.done {
			t.Errorf("%s: done = %v, want %v", tt.name, done, tt.done)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want prefix %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestContainerFromInspect(t *testing.T) {
	info := inspectWith("exited", "unhealthy", 3, "x")
	info.Image = "sha256:i"
	info.Created = "2024-01-02T03:04:05.123456789Z"
	info.Config.Image = "redis"
	info.Config.Labels[engine.LabelOneOff] = "True"
	c := containerFromInspect(info)
	if c.Name != "p-db-1" || c.State != "exited" || c.ExitCode != 3 || c.Health != "unhealthy" || c.Number != 1 ||
		!c.OneOff || c.Image != "redis" || c.ImageID != "sha256:i" || c.Created.Nanosecond() != 123456789 {
		t.Errorf("containerFromInspect = %+v", c)
	}
}
