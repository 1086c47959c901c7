package runspec

import (
	"reflect"
	"testing"
	"time"
)

func TestMergeArgs(t *testing.T) {
	img := Image{Entrypoint: []string{"/ep"}, Cmd: []string{"cmd"}}
	for _, c := range []struct {
		name       string
		ep, cmd    []string
		want       []string
		imgEP, img []string
	}{
		{name: "image's", want: []string{"/ep", "cmd"}},
		{name: "command replaces cmd", cmd: []string{"x"}, want: []string{"/ep", "x"}},
		{name: "entrypoint drops cmd", ep: []string{"/e"}, want: []string{"/e"}},
		{name: "entrypoint and command", ep: []string{"/e"}, cmd: []string{"x"}, want: []string{"/e", "x"}},
		// An empty entrypoint clears the image's; the image's command
		// still runs (Docker's rule).
		{name: "empty entrypoint", ep: []string{}, want: []string{"cmd"}},
		{name: "empty command", cmd: []string{}, want: []string{"/ep", "cmd"}},
		{name: "entrypoint of one empty word", ep: []string{""}, cmd: []string{"x"}, want: []string{"x"}},
	} {
		got, err := mergeArgs(c.ep, c.cmd, img.Entrypoint, img.Cmd)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := mergeArgs([]string{}, nil, nil, nil); err != ErrNoCommand {
		t.Errorf("no command: %v", err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv(
		[]EnvVar{{Name: "A", Value: "svc"}, {Name: "GONE", Unset: true}, {Name: "HOSTNAME", Value: "mine"}},
		[]string{"PATH=/img/bin", "A=img", "B=img", "GONE=img"}, "abc", true)
	want := []string{"PATH=/img/bin", "HOSTNAME=mine", "TERM=xterm", "A=svc", "B=img"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env %q, want %q", got, want)
	}
	if got := mergeEnv([]EnvVar{{Name: "PATH", Unset: true}}, nil, "h", false); !reflect.DeepEqual(got, []string{"HOSTNAME=h"}) {
		t.Errorf("unset PATH: %q", got)
	}
}

func TestMergeHealth(t *testing.T) {
	img := &ImageHealth{Test: []string{"CMD", "img"}, Interval: time.Second, Retries: 7, StartInterval: 2 * time.Second}
	for _, c := range []struct {
		name string
		h    Health
		img  *ImageHealth
		want *Healthcheck
	}{
		{"inherit", Health{}, img, &Healthcheck{Test: []string{"CMD", "img"}, Interval: time.Second, Timeout: 30 * time.Second, StartInterval: 2 * time.Second, Retries: 7}},
		{"inherit none", Health{}, nil, nil},
		{"disable", Health{Mode: HealthDisable}, img, nil},
		{"image NONE", Health{}, &ImageHealth{Test: []string{"NONE"}}, nil},
		// A zero field takes the image's (explicit 0 included), then the
		// default.
		{"set", Health{Mode: HealthSet, Test: []string{"CMD-SHELL", "x"}, Timeout: 3 * time.Second}, img,
			&Healthcheck{Test: []string{"CMD-SHELL", "x"}, Interval: time.Second, Timeout: 3 * time.Second, StartInterval: 2 * time.Second, Retries: 7}},
		{"set without test", Health{Mode: HealthSet, Retries: 1}, img,
			&Healthcheck{Test: []string{"CMD", "img"}, Interval: time.Second, Timeout: 30 * time.Second, StartInterval: 2 * time.Second, Retries: 1}},
		{"set without any test", Health{Mode: HealthSet, Retries: 1}, nil, nil},
	} {
		if got := mergeHealth(c.h, c.img); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestMergeImage(t *testing.T) {
	g := 3 * time.Second
	c := Container{
		Process: Process{WorkingDir: "", User: ""},
		Stop:    Stop{GracePeriod: &g},
		Labels:  map[string]string{"a": "svc"},
		Mounts:  []Mount{{Type: MountVolume, Target: "/data"}},
	}
	img := Image{Cmd: []string{"sh"}, User: "app", WorkingDir: "/w", StopSignal: "SIGINT", Labels: map[string]string{"a": "img", "b": "img"}, Volumes: []string{"/data", "/cache/", "/cache"}}
	m, err := MergeImage(c, img, "h")
	if err != nil {
		t.Fatal(err)
	}
	if m.User != "app" || m.WorkingDir != "/w" || m.StopSignal != "SIGINT" || m.GracePeriod != g {
		t.Errorf("merged %+v", m)
	}
	if !reflect.DeepEqual(m.Labels, map[string]string{"a": "svc", "b": "img"}) || !reflect.DeepEqual(m.AnonymousVolumes, []string{"/cache"}) {
		t.Errorf("labels %v volumes %v", m.Labels, m.AnonymousVolumes)
	}
	m, _ = MergeImage(Container{}, Image{Cmd: []string{"sh"}}, "h")
	if m.WorkingDir != "/" || m.StopSignal != "SIGTERM" || m.GracePeriod != DefaultGracePeriod {
		t.Errorf("defaults %+v", m)
	}
}
