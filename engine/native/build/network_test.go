package build

import (
	"errors"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

func TestStepNetworkMode(t *testing.T) {
	const refused = stepMode(-1)
	for _, c := range []struct {
		build        string
		entitlements []string
		flag         string
		want         stepMode
	}{
		{"", nil, "default", stepBridge},
		{"default", nil, "default", stepBridge},
		{"", nil, "none", stepNone},
		{"", nil, "host", refused},
		{"", []string{"security.insecure"}, "host", refused},
		{"", []string{"network.host"}, "host", stepHost},
		{"", []string{"network.host"}, "default", stepBridge},
		{"host", nil, "default", stepHost},
		{"host", nil, "host", stepHost},
		{"host", nil, "none", stepNone},
		{"none", nil, "default", stepNone},
		{"none", nil, "host", refused},
		{"none", []string{"network.host"}, "host", refused},
	} {
		j := &job{spec: engine.BuildSpec{Network: c.build, Entitlements: c.entitlements}}
		got, err := j.stepNetworkMode(c.flag)
		switch {
		case c.want == refused && (err == nil || c.build != "none" && !errors.Is(err, errHostNetwork)):
			t.Errorf("build.network %q %v, RUN --network=%s: %v %v, want refused", c.build, c.entitlements, c.flag, got, err)
		case c.want != refused && (err != nil || got != c.want):
			t.Errorf("build.network %q %v, RUN --network=%s: %v %v, want %v", c.build, c.entitlements, c.flag, got, err, c.want)
		}
	}
	j := &job{spec: engine.BuildSpec{Network: "p_front"}}
	if _, err := j.stepNetworkMode("default"); !errors.Is(err, errUnsupported) {
		t.Errorf("build.network p_front: %v, want unsupported", err)
	}
}
