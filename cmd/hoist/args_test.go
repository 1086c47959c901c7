package main

import (
	"reflect"
	"testing"
)

func TestRewriteArgs(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"logs", "-f"}, []string{"logs", "--follow"}},
		{[]string{"rm", "-f", "web"}, []string{"rm", "--force", "web"}},
		{[]string{"-p", "proj", "run", "-p", "80:80", "-e", "X=1", "-p", "81:81", "web", "grep", "-p", "x"},
			[]string{"-p", "proj", "run", "--publish", "80:80", "-e", "X=1", "--publish", "81:81", "web", "grep", "-p", "x"}},
		{[]string{"run", "--rm", "web", "sh", "-p"}, []string{"run", "--rm", "web", "sh", "-p"}},
		{[]string{"rm", "-sf"}, []string{"rm", "-s", "--force"}},
		{[]string{"exec", "box", "rm", "-f", "x"}, []string{"exec", "box", "rm", "-f", "x"}},
		{[]string{"-f", "c.yaml", "logs", "-f", "web"}, []string{"-f", "c.yaml", "logs", "--follow", "web"}},
		{[]string{"-f", "logs", "up", "-f"}, []string{"-f", "logs", "up", "-f"}},
		{[]string{"logs", "-tf"}, []string{"logs", "-t", "--follow"}},
		{[]string{"up", "-d"}, []string{"up", "-d"}},
		{[]string{"logs", "--", "-f"}, []string{"logs", "--", "-f"}},
		{[]string{"image", "rm", "-f", "x"}, []string{"image", "rm", "--force", "x"}},
		{[]string{"-f", "c.yaml", "image", "ls"}, []string{"-f", "c.yaml", "image", "ls"}},
	}
	for _, c := range cases {
		if got := rewriteArgs(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("rewriteArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
