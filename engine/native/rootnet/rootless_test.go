package rootnet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRootless runs the publish, outbound and DNS scenarios as an
// ordinary user, the way a rootless project runs: the test (root) makes a
// user and runs this test binary as it (roleUser), which starts itself
// again in a user namespace of its own with a single-id mapping (its uid
// and gid as 0) and no new network namespace (roleInner): there it has
// every capability over the namespaces it makes, none over the host's
// network namespace, where its threads stay.
func TestRootless(t *testing.T) {
	if os.Getenv(envRole) == roleInner {
		rootlessInner(t)
		return
	}
	requireNative(t)
	if os.Geteuid() != 0 {
		t.Fatal("TestRootless makes a user: needs root")
	}
	name := fmt.Sprintf("hoistrn%d", time.Now().UnixNano()%1e9)
	if out, err := exec.Command("useradd", "-m", "-U", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			t.Errorf("userdel: %v: %s", err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	// go test's build directory is root's alone: give the user a copy.
	dir, err := os.MkdirTemp("", "rootnet-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "rootnet.test")
	if err := copyFile(bin, os.Args[0]); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestRootless$", "-test.v", "-test.count=1")
	cmd.Dir = u.HomeDir
	cmd.Env = []string{envRole + "=" + roleUser, "HOME=" + u.HomeDir, "PATH=" + os.Getenv("PATH"), "HOIST_REQUIRE_NATIVE=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	t.Logf("as %s (uid %d):\n%s", name, uid, out)
	if err != nil {
		t.Fatalf("the rootless run failed: %v", err)
	}
}

const (
	envRole   = "HOIST_ROOTNET_ROLE"
	roleUser  = "user"  // an ordinary user, about to make its user namespace
	roleInner = "inner" // in that user namespace
)

// TestMain starts the user namespace for roleUser.
func TestMain(m *testing.M) {
	if os.Getenv(envRole) == roleUser {
		os.Exit(intoUserns())
	}
	os.Exit(m.Run())
}

// intoUserns runs this test binary again in a new user namespace, mapping
// this process's own uid and gid (an ordinary user's) to 0 there.
func intoUserns() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), envRole+"="+roleInner)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "start the user namespace:", err)
		return 1
	}
	return 0
}

func rootlessInner(t *testing.T) {
	m, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(m)); len(f) != 3 || f[0] != "0" || f[1] == "0" || f[2] != "1" {
		t.Fatalf("uid_map %q, want an ordinary user's uid alone as 0", m)
	}
	// The situation this package is for: no capability over the host's
	// network namespace, so no way back into it once a thread leaves.
	host, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(host)
	if err := unix.Setns(host, unix.CLONE_NEWNET); !errors.Is(err, unix.EPERM) {
		t.Fatalf("setns to the host's network namespace: %v, want EPERM (is this a user namespace?)", err)
	}
	tp := newTopology(t)
	t.Run("PublishTCP", func(t *testing.T) { scenarioPublishTCP(t, tp, 16<<20) })
	t.Run("PublishUDP", func(t *testing.T) { scenarioPublishUDP(t, tp) })
	t.Run("Outbound", func(t *testing.T) { scenarioOutbound(t, tp) })
	t.Run("DNS", func(t *testing.T) { scenarioDNS(t, tp) })

	// Every thread that entered a namespace has ended once the handles
	// are closed: none was handed back to the scheduler.
	inodes := []uint64{nsInode(t, tp.P.Path()), nsInode(t, tp.C.Path())}
	tp.P.Close()
	tp.C.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		in := append(threadsIn(t, inodes[0]), threadsIn(t, inodes[1])...)
		if len(in) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v are still in the test's namespaces", in)
		}
	}
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
