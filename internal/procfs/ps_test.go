package procfs

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPidNamespaceListsThisProcess(t *testing.T) {
	rows, err := PidNamespace(os.Getpid(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	for _, r := range rows {
		if len(r) != len(PsTitles) {
			t.Fatalf("row %q has %d columns, want %d", r, len(r), len(PsTitles))
		}
		if r[1] == self {
			if !strings.Contains(r[7], "procfs.test") || r[2] != strconv.Itoa(os.Getppid()) || !strings.Contains(r[6], ":") {
				t.Errorf("own row %q", r)
			}
			return
		}
	}
	t.Fatalf("this process (%s) is not listed among %d", self, len(rows))
}

func TestTTYName(t *testing.T) {
	for nr, want := range map[uint64]string{0: "?", 136<<8 | 3: "pts/3", 137<<8 | 1: "pts/257", 4<<8 | 1: "4:1"} {
		if got := tty(nr); got != want {
			t.Errorf("tty(%#x) = %q, want %q", nr, got, want)
		}
	}
}
