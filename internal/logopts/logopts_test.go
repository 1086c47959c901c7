package logopts

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		driver string
		opts   map[string]string
		want   Options
		err    string
	}{
		{"", nil, Options{}, ""},
		{"json-file", map[string]string{"max-size": "10m", "max-file": "5"}, Options{MaxSize: 10 << 20, MaxFiles: 5}, ""},
		{"local", map[string]string{"max-file": "2", "mode": "non-blocking", "max-buffer-size": "4m"}, Options{MaxFiles: 2, NonBlocking: true}, ""},
		{"json-file", map[string]string{"max-size": "1k", "compress": "true", "tag": "{{.Name}}"}, Options{MaxSize: 1024}, ""},
		{"json-file", map[string]string{"max-size": "ten"}, Options{}, `max-size "ten" is not a size`},
		{"json-file", map[string]string{"max-size": "1m", "max-file": "0"}, Options{}, `max-file "0" is not a positive number`},
		{"json-file", map[string]string{"max-file": "3"}, Options{}, "max-file needs max-size"},
		{"json-file", map[string]string{"mode": "fast"}, Options{}, `mode "fast" is not a mode`},
		{"", map[string]string{"max-sise": "1m"}, Options{}, `"max-sise" is not known to the json-file driver`},
	} {
		got, err := Parse(c.driver, c.opts)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%q, %v): error %v, want %q", c.driver, c.opts, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Parse(%q, %v) = %+v, %v; want %+v", c.driver, c.opts, got, err, c.want)
		}
	}
}

func TestFileDriver(t *testing.T) {
	for d, want := range map[string]bool{"": true, "json-file": true, "local": true, "syslog": false, "none": false} {
		if FileDriver(d) != want {
			t.Errorf("FileDriver(%q) = %v", d, !want)
		}
	}
}
