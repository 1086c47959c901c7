package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// While an exec runs, the container must not learn the host's mount
// table. The exec helper is born in the container's pid namespace, in the
// host's mount namespace, and joins the container's only once hoist has
// moved it into the container's cgroups and sent its configuration; until
// then its /proc/<pid>/mountinfo (readable by anyone: no ptrace check,
// unlike /proc/<pid>/root) lists the host's mounts. runc joins every
// namespace before the process is seen there. A container that scans
// /proc during a few execs finds a mount made on the host meanwhile.
func TestExecDoesNotShowTheHostMountTable(t *testing.T) {
	needRoot(t)
	mark := fmt.Sprintf("hoist-host-only-%d", os.Getpid())
	var stdout syncBuffer
	spec := Spec{ID: testID(t), Rootfs: newRootfs(t), Stdout: &stdout, Env: []string{"MARK=" + mark},
		Args: []string{"sh", "-c", `echo up; while :; do if cat /proc/[0-9]*/mountinfo 2>/dev/null | grep -q "$MARK"; then echo LEAK; exit 0; fi; done`}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Cleanup(); _, _ = p.Wait() }()
	waitFor(t, "container", func() bool { return strings.Contains(stdout.String(), "up") })
	// A mount only the host's namespace has (the container's root was
	// pivoted away from it before).
	dir := filepath.Join(t.TempDir(), mark)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1k"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	for i := 0; i < 40 && !strings.Contains(stdout.String(), "LEAK"); i++ {
		if _, err := Exec(ctx, p.Pid(), ExecSpec{Args: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(stdout.String(), "LEAK") {
		t.Errorf("the container read the host's mount table (%s) through an exec helper's /proc/<pid>/mountinfo", dir)
	}
}
