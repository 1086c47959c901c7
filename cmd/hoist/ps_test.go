package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestPrintPsFormats(t *testing.T) {
	rows := []psEntry{
		{ID: "abc", Name: "p-web-1", Image: "img", Project: "p", Service: "web", State: "running", Status: "running (healthy)", Health: "healthy",
			Publishers: []publisher{{URL: "127.0.0.1", TargetPort: 80, PublishedPort: 8080, Protocol: "tcp"}}},
		{ID: "def", Name: "p-job-1", Image: "img", Project: "p", Service: "job", State: "exited", Status: "exited (3)", ExitCode: 3, Publishers: []publisher{}},
	}
	for _, tc := range []struct{ format, want string }{
		{"table", "NAME      IMAGE   SERVICE   STATUS              PORTS\n" +
			"p-web-1   img     web       running (healthy)   127.0.0.1:8080->80/tcp\n" +
			"p-job-1   img     job       exited (3)          \n"},
		{"{{.Name}} {{.State}} {{.ExitCode}}", "p-web-1 running 0\np-job-1 exited 3\n"},
		{`{{.Service}}\t{{.Ports}}`, "web\t127.0.0.1:8080->80/tcp\njob\t\n"},
		{`table {{.Name}}\t{{.ExitCode}}`, "NAME      EXIT CODE\np-web-1   0\np-job-1   3\n"},
		{`{{json .Publishers}}`, `[{"URL":"127.0.0.1","TargetPort":80,"PublishedPort":8080,"Protocol":"tcp"}]` + "\n[]\n"},
		{`{{upper .Service}}`, "WEB\nJOB\n"},
		{"json", `{"ID":"abc","Name":"p-web-1","Image":"img","Project":"p","Service":"web","State":"running","Health":"healthy","ExitCode":0,"Status":"running (healthy)","Publishers":[{"URL":"127.0.0.1","TargetPort":80,"PublishedPort":8080,"Protocol":"tcp"}]}` + "\n" +
			`{"ID":"def","Name":"p-job-1","Image":"img","Project":"p","Service":"job","State":"exited","Health":"","ExitCode":3,"Status":"exited (3)","Publishers":[]}` + "\n"},
	} {
		var b bytes.Buffer
		if err := printPs(&b, rows, tc.format); err != nil {
			t.Errorf("%s: %v", tc.format, err)
			continue
		}
		if b.String() != tc.want {
			t.Errorf("--format %s:\n got %q\nwant %q", tc.format, b.String(), tc.want)
		}
	}
	for _, bad := range []string{"{{.Name", "{{.Nope}}"} {
		err := printPs(&bytes.Buffer{}, rows, bad)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--format") {
			t.Errorf("--format %s: %v, want a one-line error", bad, err)
		}
	}
}

func TestPsStatuses(t *testing.T) {
	want, err := psStatuses([]string{"exited"}, []string{"status=running"})
	if err != nil || len(want) != 2 || !want["exited"] || !want["running"] {
		t.Errorf("psStatuses = %v, %v", want, err)
	}
	if want, err := psStatuses(nil, nil); err != nil || len(want) != 0 {
		t.Errorf("no filter: %v, %v", want, err)
	}
	for _, bad := range [][2][]string{{{"bogus"}, nil}, {nil, {"name=x"}}, {nil, {"status"}}} {
		if _, err := psStatuses(bad[0], bad[1]); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
