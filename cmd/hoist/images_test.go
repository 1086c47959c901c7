package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/engine"
)

func TestSplitRef(t *testing.T) {
	for ref, want := range map[string]string{
		"redis":                         "redis latest",
		"redis:7":                       "redis 7",
		"localhost:5000/app":            "localhost:5000/app latest",
		"localhost:5000/app:v1":         "localhost:5000/app v1",
		"app@sha256:0123456789abcdef":   "app <none>",
		"redis:7@sha256:0123456789abcd": "redis 7",
		"sha256:0123456789abcdef":       "<none> <none>",
	} {
		repo, tag := splitRef(ref)
		if got := repo + " " + tag; got != want {
			t.Errorf("splitRef(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestImagesTable(t *testing.T) {
	cs := []engine.Container{
		{Name: "p-web-1", Image: "p-web", ImageID: "sha256:" + strings.Repeat("a", 64)},
		{Name: "p-db-1", Image: "redis:7", ImageID: "sha256:" + strings.Repeat("b", 64)},
		{Name: "p-db-2", Image: "redis:7", ImageID: "sha256:" + strings.Repeat("b", 64)},
	}
	rows := imageRows(cs, map[string]int64{"sha256:" + strings.Repeat("b", 64): 2_500_000})
	var out bytes.Buffer
	if err := printImages(&out, rows, false, "table"); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER   REPOSITORY   TAG      IMAGE ID       SIZE\n" +
		"p-db-1      redis        7        bbbbbbbbbbbb   2.5MB\n" +
		"p-db-2      redis        7        bbbbbbbbbbbb   2.5MB\n" +
		"p-web-1     p-web        latest   aaaaaaaaaaaa   0B\n"
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	if err := printImages(&out, rows, true, "table"); err != nil {
		t.Fatal(err)
	}
	if out.String() != strings.Repeat("b", 64)+"\n"+strings.Repeat("a", 64)+"\n" {
		t.Errorf("-q lists each image once, without sha256:\n%s", out.String())
	}
}

func TestFamiliarRef(t *testing.T) {
	for ref, want := range map[string]string{
		"index.docker.io/library/redis:7": "redis:7",
		"docker.io/library/redis:7":       "redis:7",
		"index.docker.io/hoist/app:v1":    "hoist/app:v1",
		"localhost:5000/app:v1":           "localhost:5000/app:v1",
		"ghcr.io/o/app:v1":                "ghcr.io/o/app:v1",
	} {
		if got := familiarRef(ref); got != want {
			t.Errorf("familiarRef(%q) = %q, want %q", ref, got, want)
		}
	}
}
