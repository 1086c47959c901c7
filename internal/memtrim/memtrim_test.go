package memtrim

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

func rssFile(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	m := regexp.MustCompile(`RssFile:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Skip("no RssFile in /proc/self/status")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func TestTrimDropsExecutablePages(t *testing.T) {
	before := rssFile(t)
	if err := Trim(); err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	t.Logf("RssFile %d kB -> %d kB", before, after)
	if after >= before {
		t.Fatalf("RssFile did not shrink: %d kB -> %d kB", before, after)
	}
	// The process still runs: code and read-only data come back from
	// the page cache.
	if _, err := regexp.Compile(`a(b|c)*d`); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyMapping(t *testing.T) {
	exe := "/usr/bin/hoist"
	for line, want := range map[string]bool{
		"00400000-00b9a000 r-xp 00000000 fe:00 9987510 /usr/bin/hoist":           true,
		"00b9a000-01610000 r--p 0079a000 fe:00 9987510 /usr/bin/hoist":           true,
		"01610000-01683000 rw-p 01210000 fe:00 9987510 /usr/bin/hoist":           false,
		"7f16a6fe0000-7f16a7300000 rw-p 00000000 00:00 0":                        false,
		"00400000-00b9a000 r-xp 00000000 fe:00 9987510 /usr/bin/hoist-other":     false,
		"00400000-00b9a000 r-xp 00000000 fe:00 9987510 /usr/bin/hoist (deleted)": false,
	} {
		if _, ok := readOnlyMapping(line, exe); ok != want {
			t.Errorf("%q: %v, want %v", line, ok, want)
		}
	}
	r, _ := readOnlyMapping("00400000-00b9a000 r-xp 00000000 fe:00 1 /usr/bin/hoist", exe)
	if r != [2]uint64{0x400000, 0xb9a000} {
		t.Errorf("range %x", r)
	}
}
