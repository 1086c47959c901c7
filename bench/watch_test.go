package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/compose"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	xs := ms(5, 1, 4, 2, 3, 10, 9, 8, 7, 6)
	for _, c := range []struct {
		p    float64
		want int
	}{{50, 5}, {99, 10}, {100, 10}, {10, 1}, {0, 1}} {
		if got := percentile(xs, c.p); got != time.Duration(c.want)*time.Millisecond {
			t.Errorf("p%v = %v, want %d ms", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("no samples: want 0")
	}
	if xs[0] != 5*time.Millisecond {
		t.Error("percentile sorted its input in place")
	}
}

func TestWatchCompose(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	for name, data := range map[string]string{file: watchCompose("py", "rd", 5999), filepath.Join(dir, "Dockerfile"): "FROM py\n"} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{file}, Name: "hbench-watch"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.ServiceNames(), []string{"db", "web"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("services = %v, want %v", got, want)
	}
	if w := p.Services["web"].Develop; w == nil || len(w.Watch) != 3 || w.Watch[0].Path != filepath.Join(dir, "static") {
		t.Fatalf("web develop.watch = %+v", w)
	}
	if s, err := parseScenarios("watch,fan20"); err != nil || len(s) != 2 || s[0].kind != "watch" {
		t.Fatalf("parseScenarios(watch,fan20) = %v, %v", s, err)
	}
}
