package main

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/hoist-dev/hoist/engine"
)

func TestApplyScale(t *testing.T) {
	project := func() *types.Project {
		web := types.ServiceConfig{Name: "web"}
		named := types.ServiceConfig{Name: "db", ContainerName: "the-db"}
		return &types.Project{Services: types.Services{"web": web, "db": named}}
	}
	p := project()
	if err := applyScale(p, []string{"web=3", "db=1"}); err != nil {
		t.Fatal(err)
	}
	scale := func(name string) int { s := p.Services[name]; return s.GetScale() }
	if got := scale("web"); got != 3 {
		t.Errorf("web scale %d, want 3", got)
	}
	if err := applyScale(p, []string{"web=0"}); err != nil || scale("web") != 0 {
		t.Errorf("web=0: %v, scale %d", err, scale("web"))
	}
	for spec, want := range map[string]string{
		"web":     "use SERVICE=NUM",
		"web=-1":  "use SERVICE=NUM",
		"web=two": "use SERVICE=NUM",
		"=2":      "use SERVICE=NUM",
		"api=2":   `no such service "api"`,
		"db=2":    "container_name",
	} {
		err := applyScale(project(), []string{spec})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--scale %s: %v, want one line with %q", spec, err, want)
		}
	}
}

func TestShownContainers(t *testing.T) {
	no := false
	p := &types.Project{Services: types.Services{
		"web": {Name: "web"}, "db": {Name: "db"}, "noisy": {Name: "noisy", Attach: &no},
	}}
	cs := []engine.Container{{Name: "p-db-1", Service: "db"}, {Name: "p-noisy-1", Service: "noisy"}, {Name: "p-web-1", Service: "web"}}
	names := func(named []string, f upFlags) string {
		var out []string
		for _, c := range shownContainers(cs, p, named, f) {
			out = append(out, c.Service)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		named []string
		f     upFlags
		want  string
	}{
		{nil, upFlags{}, "db,web"},
		{[]string{"web"}, upFlags{}, "web"},
		{[]string{"web"}, upFlags{attachDeps: true}, "db,web"},
		{nil, upFlags{attach: []string{"noisy"}}, "noisy"},
		{nil, upFlags{noAttach: []string{"db"}}, "web"},
	} {
		if got := names(c.named, c.f); got != c.want {
			t.Errorf("named %v flags %+v: shown %s, want %s", c.named, c.f, got, c.want)
		}
	}
}
