package e2e

// The rootless native engine, driven as a user would: each test makes a
// user of its own (useradd, which gives it a subordinate range), runs the
// real hoist binary as that user (setpriv) and removes the user again
// (userdel -r). As root in CI with HOIST_REQUIRE_NATIVE=1 they must run.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/hoist-dev/hoist/internal/testimage"
)

// rootlessUser is a user made for one test.
type rootlessUser struct {
	name     string
	uid, gid int
	home     string
	// subUID and subGID start the user's subordinate ranges.
	subUID, subGID int
	bin            string   // hoist, where the user may run it
	env            []string // added to hoist's environment
	// deleted: the test removed the user itself (userdel).
	deleted bool
}

// needRootless skips, or fails with HOIST_REQUIRE_NATIVE=1, unless the
// test can make users and map their ids.
func needRootless(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (to add a user)")
	}
	for _, tool := range []string{"useradd", "userdel", "setpriv", "newuidmap", "newgidmap", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (apt-get install uidmap util-linux passwd)")
		}
	}
	if err := testimage.Available(); err != nil {
		missing = append(missing, err.Error())
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("HOIST_REQUIRE_NATIVE") == "1" {
		t.Fatalf("HOIST_REQUIRE_NATIVE=1 but rootless tests cannot run: %s", strings.Join(missing, "; "))
	}
	t.Skipf("rootless tests need %s", strings.Join(missing, "; "))
}

// newRootlessUser adds a user with a home and a subordinate range, with
// hoist copied where it may run it; cleanup kills what the user left
// (failing the test: down must leave nothing) and removes the user.
func newRootlessUser(t *testing.T) *rootlessUser {
	t.Helper()
	needRootless(t)
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	u := &rootlessUser{name: "hrl" + hex.EncodeToString(suffix)}
	if out, err := exec.Command("useradd", "-m", "-U", "-s", "/bin/sh", u.name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if u.deleted {
			return
		}
		if pids := userPids(u.uid); len(pids) > 0 {
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// userdel -r removes the home, not the run dir in /tmp.
		_ = os.RemoveAll(filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(u.uid)))
		if out, err := exec.Command("userdel", "-r", u.name).CombinedOutput(); err != nil {
			t.Errorf("userdel -r %s: %v: %s", u.name, err, out)
		}
	})
	out, err := exec.Command("id", "-u", u.name).Output()
	if err != nil {
		t.Fatal(err)
	}
	u.uid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	out, err = exec.Command("id", "-g", u.name).Output()
	if err != nil {
		t.Fatal(err)
	}
	u.gid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	u.home = filepath.Join("/home", u.name)
	u.subUID = subStart(t, "/etc/subuid", u.name)
	u.subGID = subStart(t, "/etc/subgid", u.name)
	// The test's binary is in a 0700 temp dir: copy it into the home.
	u.bin = filepath.Join(u.home, "bin", "hoist")
	u.mkdir(t, "bin")
	b, err := os.ReadFile(hoistBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(u.bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	u.chown(t, u.bin)
	return u
}

func subStart(t *testing.T, file, name string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) == 3 && f[0] == name {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("useradd gave %s no range in %s", name, file)
	return 0
}

func (u *rootlessUser) chown(t *testing.T, p string) {
	t.Helper()
	if err := os.Chown(p, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
}

// mkdir makes dir (relative to the home) as the user's.
func (u *rootlessUser) mkdir(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(u.home, dir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	u.chown(t, p)
	return p
}

// writeFile writes a file of the user's.
func (u *rootlessUser) writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	u.chown(t, p)
}

// hoist runs hoist as the user in dir, with a clean environment as a
// login gives it (no XDG_RUNTIME_DIR: this machine kind has no systemd),
// and returns its combined output; a failure fails the test.
func (u *rootlessUser) hoist(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := u.hoistErr(dir, args...)
	if err != nil {
		t.Fatalf("hoist %s (as %s): %v\n%s", strings.Join(args, " "), u.name, err, out)
	}
	return out
}

func (u *rootlessUser) hoistErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("setpriv", append([]string{"--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid), "--init-groups", "--", u.bin}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}, u.env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// importImage imports the busybox test image, with files owned by 33
// and 65534 added, into the user's store.
func (u *rootlessUser) importImage(t *testing.T) {
	t.Helper()
	var base bytes.Buffer
	if err := testimage.WriteRootfs(&base); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(u.home, "busybox.tar")
	f, err := os.Create(tarball)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	tr := tar.NewReader(&base)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []struct {
		name     string
		uid, gid int
	}{{"srv/", 0, 0}, {"srv/www", 33, 33}, {"srv/nobody", 65534, 65534}} {
		hdr := &tar.Header{Name: e.name, Uid: e.uid, Gid: e.gid, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.name))}
		if strings.HasSuffix(e.name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e.name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := errors.Join(tw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	u.chown(t, tarball)
	u.hoist(t, u.home, "--engine", "native", "image", "import", tarball, testImage)
}

// userPids lists the processes of uid or of its subordinate range's
// first ids (the containers' root is the user; other container users are
// in the range, which only this user maps).
func userPids(uid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fi, err := os.Stat("/proc/" + e.Name())
		if err != nil {
			continue
		}
		// A zombie is not counted: this machine kind's pid 1 does not
		// reap the anchor that down ended (its parent, the up, had
		// exited), which a real init does.
		if int(fi.Sys().(*syscall.Stat_t).Uid) == uid && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// runDirFiles lists what is under the user's run dir other than empty
// directories.
func runDirFiles(t *testing.T, u *rootlessUser) []string {
	t.Helper()
	var files []string
	dir := filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(u.uid))
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		// The run cache is the fast path's, bounded, and of command
		// lines, not of a project (TestRootlessRunRm counts it).
		if err == nil && d.IsDir() && p == filepath.Join(dir, "runcache") {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// mountsUnder lists the mounts, in any process's mount namespace, whose
// mount point is under one of dirs.
func mountsUnder(dirs ...string) []string {
	var out []string
	seen := map[string]bool{}
	files, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 5 {
				continue
			}
			for _, d := range dirs {
				if strings.HasPrefix(fields[4], d+"/") && !seen[fields[4]] {
					seen[fields[4]] = true
					out = append(out, f+": "+fields[4])
				}
			}
		}
	}
	return out
}

func TestRootlessRunRm(t *testing.T) {
	u := newRootlessUser(t)
	u.importImage(t)
	dir := u.mkdir(t, "proj")
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  box:\n    image: "+testImage+"\n")
	// As a user, --engine native is the rootless engine, and so is auto.
	for _, engine := range []string{"native", "auto"} {
		out := u.hoist(t, dir, "--engine", engine, "run", "--rm", "box", "sh", "-c",
			"id -u; id -g; stat -c %u:%g /etc/passwd /srv/www /srv/nobody; cat /proc/self/uid_map; echo x > /dev/null && echo devnull")
		want := []string{"0", "0", "0:0", "33:33", "65534:65534"}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < len(want)+3 {
			t.Fatalf("--engine %s: run --rm output:\n%s", engine, out)
		}
		for i, w := range want {
			if lines[i] != w {
				t.Errorf("--engine %s: line %d is %q, want %q (output:\n%s)", engine, i, lines[i], w, out)
			}
		}
		// The container's ids are the user's and the user's range.
		if f := strings.Fields(lines[5]); len(f) != 3 || f[0] != "0" || f[1] != strconv.Itoa(u.uid) || f[2] != "1" {
			t.Errorf("uid_map line 1 is %q, want 0 %d 1", lines[5], u.uid)
		}
		if f := strings.Fields(lines[6]); len(f) != 3 || f[0] != "1" || f[1] != strconv.Itoa(u.subUID) {
			t.Errorf("uid_map line 2 is %q, want 1 %d ...", lines[6], u.subUID)
		}
		if lines[len(lines)-1] != "devnull" {
			t.Errorf("/dev/null is not writable: %s", out)
		}
	}
	// run leaves the project's anchor, which holds its network, as
	// docker compose run leaves the network; down ends it.
	u.hoist(t, dir, "down")

	// A one-off with no network is remembered, as root's is, and the next
	// run of the same command line is replayed from the user's run cache
	// in a user namespace of its own, with no holder (cmd/hoist/fastrun):
	// HOIST_FASTRUN=require fails rather than take the usual way.
	none := u.mkdir(t, "none")
	u.writeFile(t, filepath.Join(none, "compose.yaml"), "services:\n  box:\n    image: "+testImage+"\n    network_mode: none\n    environment: [GREETING=one]\n")
	oneOff := []string{"run", "--rm", "box", "sh", "-c", "echo $GREETING; id -u; head -c 1 /tmp/x 2>/dev/null || echo fresh; echo y > /tmp/x; cat /proc/self/uid_map; exit 3"}
	checkRun := func(what, greeting string, env ...string) {
		t.Helper()
		saved := u.env
		u.env = append(slices.Clone(u.env), env...)
		out, err := u.hoistErr(none, oneOff...)
		u.env = saved
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("%s: exit %v, want status 3; output:\n%s", what, err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 5 || lines[0] != greeting || lines[1] != "0" || lines[2] != "fresh" {
			t.Fatalf("%s: output:\n%s", what, out)
		}
		if f := strings.Fields(lines[3]); len(f) != 3 || f[1] != strconv.Itoa(u.uid) {
			t.Errorf("%s: uid_map %q, want the user's id as 0", what, lines[3])
		}
		if f := strings.Fields(lines[4]); len(f) != 3 || f[1] != strconv.Itoa(u.subUID) {
			t.Errorf("%s: uid_map %q, want the user's range from 1", what, lines[4])
		}
	}
	checkRun("first run --rm, network_mode none", "one")
	for i := range 2 {
		checkRun(fmt.Sprintf("replay %d", i), "one", "HOIST_FASTRUN=require")
	}
	if pids := userPids(u.uid); len(pids) > 0 {
		t.Errorf("processes of %s after the replays: %v", u.name, pids)
	}
	// A changed compose file is not replayed: the usual way runs it and
	// is remembered again.
	u.writeFile(t, filepath.Join(none, "compose.yaml"), "services:\n  box:\n    image: "+testImage+"\n    network_mode: none\n    environment: [GREETING=two]\n")
	u.env = append(u.env, "HOIST_FASTRUN=require")
	out, err := u.hoistErr(none, oneOff...)
	u.env = u.env[:len(u.env)-1]
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(out, "no usable run cache entry") {
		t.Errorf("replay after an edit: %v\n%s", err, out)
	}
	checkRun("run --rm after the edit", "two")
	checkRun("replay after the edit", "two", "HOIST_FASTRUN=require")
	// The first interrupt stops a replayed container and hoist ends with
	// 130, leaving nothing of the user's running. The command waits for
	// its stdin: at once when it is /dev/null (the run remembered), not
	// while it is a pipe nobody writes to (the replay interrupted).
	reader := []string{"run", "--rm", "box", "sh", "-c", "read x; echo read"}
	u.hoistErr(none, reader...)
	sleeper := exec.Command("setpriv", append([]string{"--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid), "--init-groups", "--", u.bin}, reader...)...)
	sleeper.Dir = none
	sleeper.Env = append([]string{"HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOIST_FASTRUN=require"}, u.env...)
	var sbuf bytes.Buffer
	sleeper.Stdout, sleeper.Stderr = &sbuf, &sbuf
	stdin, err := sleeper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the replayed container to run", func() bool {
		for _, pid := range userPids(u.uid) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.HasPrefix(string(b), "sh\x00-c\x00read x") {
				return true
			}
		}
		return false
	})
	_ = sleeper.Process.Signal(os.Interrupt)
	err = sleeper.Wait()
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("interrupted replay: %v, want status 130\n%s", err, sbuf.String())
	}
	waitFor(t, 5*time.Second, "no process of the user after the interrupt", func() bool { return len(userPids(u.uid)) == 0 })
	// What the fast path keeps is its cache: the two command lines'
	// entries (the edit replaced the first's), nothing of a project.
	if ents, _ := filepath.Glob(filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(u.uid), "runcache", "*.json")); len(ents) != 2 {
		t.Errorf("run cache entries: %v, want 2", ents)
	}
	// On the host the image's files belong to the user's range: the
	// container's 33 is the range's 33rd id.
	var found int
	_ = filepath.WalkDir(filepath.Join(u.home, ".local", "share", "hoist", "layers"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		var want int
		switch {
		case strings.HasSuffix(p, "/srv/www"):
			want = u.subUID + 32
		case strings.HasSuffix(p, "/srv/nobody"):
			want = u.subUID + 65533
		case strings.HasSuffix(p, "/etc/passwd"):
			want = u.uid
		default:
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		found++
		if got := int(fi.Sys().(*syscall.Stat_t).Uid); got != want {
			t.Errorf("%s belongs to %d on the host, want %d", p, got, want)
		}
		return nil
	})
	if found != 3 {
		t.Errorf("found %d of the image's 3 files in the user's store", found)
	}

	// A memory limit needs a cgroup, which a rootless container has not:
	// a warning naming it and the service, or with --strict a refusal
	// before any container is made.
	lim := u.mkdir(t, "limits")
	u.writeFile(t, filepath.Join(lim, "compose.yaml"), "services:\n  capped:\n    image: "+testImage+"\n    command: [sleep, '600']\n    mem_limit: 64m\n")
	out, err = u.hoistErr(lim, "up", "-d", "--strict")
	if err == nil || !strings.Contains(out, `"mem_limit (`) || !strings.Contains(out, "rootless") || !strings.Contains(out, "services: capped") {
		t.Errorf("up --strict with mem_limit: err %v, output:\n%s", err, out)
	}
	if out := u.hoist(t, lim, "ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("up --strict made containers: %q", out)
	}
	out = u.hoist(t, lim, "up", "-d")
	if !strings.Contains(out, `WARN the native-rootless engine ignores "mem_limit (`) || !strings.Contains(out, "services: capped") {
		t.Errorf("up with mem_limit warns of nothing:\n%s", out)
	}
	u.hoist(t, lim, "down", "-t", "0")
	if pids := userPids(u.uid); len(pids) > 0 {
		t.Errorf("processes of %s after run --rm and down: %v", u.name, pids)
	}
	if files := runDirFiles(t, u); len(files) > 0 {
		t.Errorf("files left in the run dir after down: %v", files)
	}
}

func TestRootlessUpPublishedPort(t *testing.T) {
	u := newRootlessUser(t)
	u.importImage(t)
	dir := u.mkdir(t, "web")
	port := freePort(t)
	// The project's DNS forwarder asks this test's resolver, which alone
	// knows dnsName: an answer in a container went through the forwarder.
	const dnsName, dnsAddr = "outbound-check.hoist.test.", "192.0.2.77"
	u.env = append(u.env, "HOIST_DNS_UPSTREAMS="+serveDNS(t, dnsName, dnsAddr))
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf(`services:
  web:
    image: %s
    command: ["sh", "-c", "echo served-rootless > /tmp/index.html; cat /proc/sys/kernel/random/uuid > /tmp/token; exec httpd -f -p 8080 -h /tmp"]
    ports: ["127.0.0.1:%d:8080"]
  client:
    image: %s
    command: ["sleep", "600"]
  flaky:
    image: %s
    restart: on-failure
    command: ["sh", "-c", "echo start; while [ ! -e /tmp/stop ]; do sleep 0.1; done; rm -f /tmp/stop; exit 3"]
`, testImage, port, testImage, testImage))
	u.hoist(t, dir, "up", "-d")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitBody(t, url, "served-rootless", 20*time.Second)
	token := strings.TrimSpace(httpGet(t, url+"token"))
	if len(token) != 36 {
		t.Fatalf("web's token: %q", token)
	}
	// Service names resolve between the project's containers.
	if out := u.hoist(t, dir, "exec", "client", "wget", "-qO-", "http://web:8080/"); !strings.Contains(out, "served-rootless") {
		t.Errorf("exec client wget web: %q", out)
	}
	// Outbound TCP: a container reaches a server on this machine's own
	// address (never another machine's), through the supervisor's
	// redirect and a connection from the host's namespace.
	addr := ownAddress(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "outbound-reached") })}
	ln, err := net.Listen("tcp4", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	if out := u.hoist(t, dir, "exec", "client", "wget", "-qO-", "http://"+ln.Addr().String()+"/"); !strings.Contains(out, "outbound-reached") {
		t.Errorf("a container reached no server on %s: %q", ln.Addr(), out)
	}
	// Its nameserver is the DNS forwarder on its network's gateway.
	if out := u.hoist(t, dir, "exec", "client", "sh", "-c", "grep ^nameserver /etc/resolv.conf; ip route | grep ^default"); !gatewayIsNameserver(out) {
		t.Errorf("the nameserver is not the gateway:\n%s", out)
	}
	if out := u.hoist(t, dir, "exec", "client", "nslookup", strings.TrimSuffix(dnsName, ".")); !strings.Contains(out, dnsAddr) {
		t.Errorf("%s did not resolve through the forwarder to %s:\n%s", dnsName, dnsAddr, out)
	}

	// kill -9 of the supervisor: the anchor starts another, which serves
	// the port again.
	runDir := filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(u.uid))
	old := supervisorPid(t, filepath.Join(runDir, "web"))
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pid := supervisorPidOrZero(filepath.Join(runDir, "web")); pid != 0 && pid != old && syscall.Kill(pid, 0) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new supervisor 20 s after kill -9 of %d", old)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitBody(t, url, "served-rootless", 20*time.Second)
	// The containers kept running (web's token is the one it wrote when
	// it started), their network works, and so do outbound TCP and the
	// DNS forwarder, which the new supervisor runs again.
	waitBody(t, url+"token", token, 5*time.Second)
	if out := u.hoist(t, dir, "exec", "client", "wget", "-qO-", "http://web:8080/"); !strings.Contains(out, "served-rootless") {
		t.Errorf("after kill -9 of the supervisor: exec client wget web: %q", out)
	}
	if out := u.hoist(t, dir, "exec", "client", "wget", "-qO-", "http://"+ln.Addr().String()+"/"); !strings.Contains(out, "outbound-reached") {
		t.Errorf("after kill -9 of the supervisor: no outbound TCP: %q", out)
	}
	if out := u.hoist(t, dir, "exec", "client", "nslookup", strings.TrimSuffix(dnsName, ".")); !strings.Contains(out, dnsAddr) {
		t.Errorf("after kill -9 of the supervisor: %s did not resolve through the forwarder:\n%s", dnsName, out)
	}
	// Restart policies resume: flaky, adopted by the new supervisor,
	// fails and is started again.
	u.hoist(t, dir, "exec", "flaky", "touch", "/tmp/stop")
	deadline = time.Now().Add(20 * time.Second)
	for {
		logs, _ := u.hoistErr(dir, "logs", "flaky")
		ps, _ := u.hoistErr(dir, "ps", "flaky")
		if strings.Count(logs, "start") >= 2 && strings.Contains(ps, "running") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flaky (restart: on-failure) was not restarted after it failed under the new supervisor:\nlogs:\n%s\nps:\n%s", logs, ps)
		}
		time.Sleep(100 * time.Millisecond)
	}
	u.hoist(t, dir, "down", "-t", "0")
	if pids := userPids(u.uid); len(pids) > 0 {
		t.Errorf("processes of %s after down: %v", u.name, pids)
	}
	if m := mountsUnder(runDir, filepath.Join(u.home, ".local")); len(m) > 0 {
		t.Errorf("mounts left after down: %v", m)
	}
	if files := runDirFiles(t, u); len(files) > 0 {
		t.Errorf("files left in the run dir after down: %v", files)
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("%s still answers after down", url)
	}

	// doctor finds everything rootless needs on this machine kind.
	if out := u.hoist(t, dir, "doctor"); !strings.Contains(out, "ok   subordinate ids: uids "+strconv.Itoa(u.subUID)) || strings.Contains(out, "FAIL") {
		t.Errorf("doctor:\n%s", out)
	}
	// system reset removes the store, with the image's files that belong
	// to the user's range (which the user cannot remove itself).
	store := filepath.Join(u.home, ".local", "share", "hoist")
	if out, err := u.hoistErr(dir, "system", "reset"); err == nil || !strings.Contains(out, "--force") {
		t.Errorf("system reset without --force: %v\n%s", err, out)
	}
	u.hoist(t, dir, "system", "reset", "--force")
	for _, d := range []string{store, runDir} {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there after system reset (%v)", d, err)
		}
	}
	// The user can go: nothing of theirs runs (userdel refuses a user
	// with processes), and nothing of theirs or their range is left where
	// userdel -r does not look.
	u.userdel(t)
}

// userdel removes u with userdel -r, as an administrator would, with no
// process killed first, and checks that nothing of the user's ids or
// range is left in the shared temporary directories.
func (u *rootlessUser) userdel(t *testing.T) {
	t.Helper()
	if pids := userPids(u.uid); len(pids) > 0 {
		t.Errorf("processes of %s before userdel: %v", u.name, pids)
	}
	if out, err := exec.Command("userdel", "-r", u.name).CombinedOutput(); err != nil {
		t.Fatalf("userdel -r %s: %v: %s", u.name, err, out)
	}
	u.deleted = true
	if _, err := os.Lstat(u.home); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is still there after userdel -r (%v)", u.home, err)
	}
	for _, dir := range []string{os.TempDir(), "/var/tmp", "/dev/shm"} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return nil
			}
			id := int(fi.Sys().(*syscall.Stat_t).Uid)
			if id == u.uid || (id >= u.subUID && id < u.subUID+65536) {
				t.Errorf("%s belongs to uid %d (%s or its range) after userdel -r", p, id, u.name)
				if d.IsDir() {
					return fs.SkipDir
				}
			}
			return nil
		})
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ownAddress is one of this machine's own IPv4 addresses other than
// loopback, which the tests may send to.
func ownAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Fatal("this machine has no IPv4 address other than loopback")
	return ""
}

// serveDNS answers, on a UDP port of 127.0.0.1, name's A query with addr,
// its other types with no record and every other name with NXDOMAIN, until the test ends; it returns
// the address it listens on.
func serveDNS(t *testing.T, name, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	a := netip.MustParseAddr(addr).As4()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			// The name exists (NOERROR) with only an A record.
			rc := dnsmessage.RCodeNameError
			if strings.EqualFold(q.Name.String(), name) {
				rc = dnsmessage.RCodeSuccess
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true, RCode: rc})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if rc == dnsmessage.RCodeSuccess && q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a})
			}
			msg, err := b.Finish()
			if err == nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// gatewayIsNameserver reads "nameserver A" and "default via A ..." lines.
func gatewayIsNameserver(out string) bool {
	var ns, gw string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "nameserver":
			ns = f[1]
		case len(f) >= 3 && f[0] == "default" && f[1] == "via":
			gw = f[2]
		}
	}
	return ns != "" && ns == gw
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitBody(t *testing.T, url, want string, timeout time.Duration) {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), want) {
				return
			}
			last = string(b)
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not serve %q in %s (last: %s)", url, want, timeout, last)
}

func supervisorPidOrZero(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "supervisor.json"))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), `"pid":`)
	if !ok {
		return 0
	}
	n := strings.IndexAny(rest, ",}")
	if n < 0 {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(rest[:n]))
	return pid
}

func supervisorPid(t *testing.T, dir string) int {
	t.Helper()
	pid := supervisorPidOrZero(dir)
	if pid == 0 {
		t.Fatalf("no supervisor recorded in %s", dir)
	}
	return pid
}

// TestRootlessIsolation: a rootless container reaches what its networks
// declare and nothing else: not a container of another network of its
// project, not one of the user's other project, not the host's loopback.
func TestRootlessIsolation(t *testing.T) {
	u := newRootlessUser(t)
	u.importImage(t)
	// The other project comes up first, so that the first one's carrier
	// knows its subnet (and leaves connections to it in its namespace).
	other := u.mkdir(t, "other")
	u.writeFile(t, filepath.Join(other, "compose.yaml"), fmt.Sprintf(`services:
  srv:
    image: %s
    command: ["sh", "-c", "echo other > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
`, testImage))
	u.hoist(t, other, "up", "-d")
	defer u.hoistErr(other, "down")
	dir := u.mkdir(t, "iso")
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), fmt.Sprintf(`services:
  client:
    image: %[1]s
    command: ["sleep", "600"]
    networks: [front]
  both:
    image: %[1]s
    command: ["sh", "-c", "echo both > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
    networks: [front, back]
  back:
    image: %[1]s
    command: ["sh", "-c", "echo back > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
    networks: [back]
networks:
  front: {}
  back: {}
`, testImage))
	u.hoist(t, dir, "up", "-d")
	defer u.hoistErr(dir, "down")

	// The host's loopback: a server there, which must see no request.
	var hits atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	lport := ln.Addr().(*net.TCPAddr).Port

	backIP := u.containerIP(t, dir, "back")
	otherIP := u.containerIP(t, other, "srv")
	gw := ""
	for line := range strings.SplitSeq(u.hoist(t, dir, "exec", "client", "ip", "route"), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "default" && f[1] == "via" {
			gw = f[2]
		}
	}
	if gw == "" {
		t.Fatal("client has no default route")
	}
	// Declared: both is on client's network.
	if out, err := u.hoistErr(dir, "exec", "client", "wget", "-qO-", "http://both:8080/"); err != nil || !strings.Contains(out, "both") {
		hosts, _ := u.hoistErr(dir, "exec", "client", "sh", "-c", "cat /etc/hosts; ip addr; ip route")
		t.Fatalf("client cannot reach both on their shared network: %v %q\n%s", err, out, hosts)
	}
	for _, c := range []struct{ what, url, want string }{
		// Between a project's networks the packets are dropped (as on
		// the root engine): the connect hangs until timeout ends it.
		{"a container on another network of the project", "http://" + backIP + ":8080/", ""},
		// The project's namespace has no route to another project's.
		{"a container of the user's other project", "http://" + otherIP + ":8080/", "Network is unreachable"},
		{"the host's loopback, by the container's own", fmt.Sprintf("http://127.0.0.1:%d/", lport), "Connection refused"},
		{"the host's loopback, by the gateway", fmt.Sprintf("http://%s:%d/", gw, lport), "Connection refused"},
	} {
		out, err := u.hoistErr(dir, "exec", "client", "timeout", "5", "wget", "-qO-", c.url)
		var ee *exec.ExitError
		if c.want == "" && (!errors.As(err, &ee) || ee.ExitCode() != 143 || strings.TrimSpace(out) != "") {
			t.Errorf("%s (%s): want the connect to hang until timeout's SIGTERM (143), got err %v:\n%s", c.what, c.url, err, out)
		}
		if c.want != "" && (err == nil || !strings.Contains(out, c.want)) {
			t.Errorf("%s (%s): want %q, got err %v:\n%s", c.what, c.url, c.want, err, out)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the host's loopback server saw %d requests from a container", n)
	}
}

// containerIP is the IPv4 address of service's container on its first
// network.
func (u *rootlessUser) containerIP(t *testing.T, dir, service string) string {
	t.Helper()
	out := u.hoist(t, dir, "exec", service, "ip", "-o", "-4", "addr", "show", "eth0")
	for f := range strings.FieldsSeq(out) {
		if ip, _, ok := strings.Cut(f, "/"); ok && net.ParseIP(ip) != nil {
			return ip
		}
	}
	t.Fatalf("no address of %s in %q", service, out)
	return ""
}

// waitFor polls cond every 50 ms until it holds, failing the test with
// what after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
