package e2e

// More of the rootless native engine, as a user would drive it: a user
// with no subordinate range, and an image built rootless whose layers
// delete (whiteout) and replace (opaque directory) what the layers below
// them hold. The harness (users, setpriv, userdel -r) is rootless_test.go's.

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/testimage"
)

// newRootlessUserNoRange adds a user to whom useradd gives no
// subordinate range (SUB_UID_COUNT=0 and SUB_GID_COUNT=0 for this one
// call, so /etc/subuid and /etc/subgid, which other tests share, are not
// edited), with hoist copied where it may run it.
func newRootlessUserNoRange(t *testing.T) *rootlessUser {
	t.Helper()
	needRootless(t)
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	u := &rootlessUser{name: "hrn" + hex.EncodeToString(suffix)}
	if out, err := exec.Command("useradd", "-m", "-U", "-s", "/bin/sh", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", u.name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if pids := userPids(u.uid); len(pids) > 0 {
			t.Errorf("processes of %s left: %v", u.name, pids)
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = os.RemoveAll(filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(u.uid)))
		if out, err := exec.Command("userdel", "-r", u.name).CombinedOutput(); err != nil {
			t.Errorf("userdel -r %s: %v: %s", u.name, err, out)
		}
	})
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, u.name+":") {
				t.Fatalf("useradd -K SUB_UID_COUNT=0 gave %s a range in %s: %s", u.name, f, line)
			}
		}
	}
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

// TestRootlessNoSubordinateRange: a user without /etc/subuid lines still
// runs a root-only image, with one id (the container's root is the
// user), and is told what that breaks.
func TestRootlessNoSubordinateRange(t *testing.T) {
	u := newRootlessUserNoRange(t)
	// The plain busybox image: every file is root's, which is all one
	// id can hold.
	tarball := filepath.Join(u.home, "busybox.tar")
	writeTestRootfs(t, tarball)
	u.chown(t, tarball)
	out := u.hoist(t, u.home, "--engine", "native", "image", "import", tarball, testImage)
	if !strings.Contains(out, "no subordinate id range for "+u.name) {
		t.Errorf("image import as a user with no range did not warn:\n%s", out)
	}
	dir := u.mkdir(t, "proj")
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  box:\n    image: "+testImage+"\n")
	out = u.hoist(t, dir, "run", "--rm", "box", "sh", "-c", "id -u; stat -c %u:%g /bin/busybox; cat /proc/self/uid_map; echo hi > /tmp/f && cat /tmp/f")
	for _, w := range []string{"WARN no subordinate id range for " + u.name, "cannot switch users", "usermod --add-subuids"} {
		if !strings.Contains(out, w) {
			t.Errorf("run --rm: no %q in the warning:\n%s", w, out)
		}
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "WARN ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 4 || lines[0] != "0" || lines[1] != "0:0" || lines[3] != "hi" {
		t.Fatalf("run --rm with one id: output:\n%s", out)
	}
	// The namespace maps one id, the user's own, and nothing else.
	if f := strings.Fields(lines[2]); len(f) != 3 || f[0] != "0" || f[1] != strconv.Itoa(u.uid) || f[2] != "1" {
		t.Errorf("uid_map is %q, want 0 %d 1 alone", lines[2], u.uid)
	}
	// On the host the image's files are the user's.
	var found int
	_ = filepath.WalkDir(filepath.Join(u.home, ".local", "share", "hoist", "layers"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, "/bin/busybox") {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		found++
		if got := int(fi.Sys().(*syscall.Stat_t).Uid); got != u.uid {
			t.Errorf("%s belongs to %d on the host, want the user's %d", p, got, u.uid)
		}
		return nil
	})
	if found == 0 {
		t.Error("no /bin/busybox in the user's store")
	}
	u.hoist(t, dir, "down")
	if pids := userPids(u.uid); len(pids) > 0 {
		t.Errorf("processes of %s after run --rm and down: %v", u.name, pids)
	}
	if files := runDirFiles(t, u); len(files) > 0 {
		t.Errorf("files left in the run dir after down: %v", files)
	}
	u.hoist(t, u.home, "system", "reset", "--force")
}

// writeTestRootfs writes the busybox test image's rootfs tar to path.
func writeTestRootfs(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testimage.WriteRootfs(f); err != nil {
		t.Fatal(err)
	}
}

// TestRootlessLayersWhiteoutOpaque builds an image rootless whose later
// layers delete a file of a lower layer (a whiteout) and replace a
// directory (an opaque one), with files of 0, 33 and 65534: inside, the
// ownership is the image's and the deleted files are gone; on the host,
// the files are the subordinate range's, the whiteout is overlay's 0:0
// character device and the opaque mark is the user xattr, the only one
// an overlay mounted in a user namespace reads.
func TestRootlessLayersWhiteoutOpaque(t *testing.T) {
	u := newRootlessUser(t)
	u.importImage(t) // /srv/www is 33's, /srv/nobody 65534's
	dir := u.mkdir(t, "layers")
	u.writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM "+testImage+"\n"+
		"RUN mkdir /opq && echo old > /opq/old && echo kept > /srv/kept\n"+
		"RUN rm /srv/www && rm -rf /opq && mkdir /opq && echo new > /opq/new && chown 33:33 /opq/new && chown 65534:65534 /srv/kept\n")
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  img:\n    build: .\n    image: rootless-layers:1\n")
	u.hoist(t, dir, "--progress", "plain", "build")
	out := u.hoist(t, dir, "run", "--rm", "img", "sh", "-c",
		"stat -c '%n %u:%g' /etc/passwd /srv/nobody /srv/kept /opq/new; ls -a /opq | tr '\\n' ' '; echo; test -e /srv/www && echo www-still-there; test -e /opq/old && echo old-still-there; echo end")
	want := []string{"/etc/passwd 0:0", "/srv/nobody 65534:65534", "/srv/kept 65534:65534", "/opq/new 33:33", ". .. new ", "end"}
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("run --rm in the built image: output:\n%s", out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d is %q, want %q (output:\n%s)", i, got[i], want[i], out)
		}
	}
	// On the host: the layers' files belong to the range, the whiteout
	// is a 0:0 character device of the user's, the opaque directory
	// carries user.overlay.opaque and not the trusted one.
	var newFile, keptFile, whiteout, opaque int
	_ = filepath.WalkDir(filepath.Join(u.home, ".local", "share", "hoist", "layers"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case strings.HasSuffix(p, "/opq/new"):
			newFile++
			if int(st.Uid) != u.subUID+32 || int(st.Gid) != u.subGID+32 {
				t.Errorf("%s is %d:%d on the host, want %d:%d", p, st.Uid, st.Gid, u.subUID+32, u.subGID+32)
			}
		case strings.HasSuffix(p, "/srv/kept") && fi.Mode().IsRegular():
			// The lower layer's copy is root's (the user); the upper
			// one, chowned, is the range's 65534.
			if int(st.Uid) == u.subUID+65533 {
				keptFile++
			} else if int(st.Uid) != u.uid {
				t.Errorf("%s belongs to %d on the host, want %d or %d", p, st.Uid, u.uid, u.subUID+65533)
			}
		case strings.HasSuffix(p, "/srv/www") && fi.Mode()&fs.ModeCharDevice != 0:
			whiteout++
			if st.Rdev != 0 || int(st.Uid) != u.uid {
				t.Errorf("whiteout %s: rdev %d uid %d, want 0 and the user's %d", p, st.Rdev, st.Uid, u.uid)
			}
		case strings.HasSuffix(p, "/opq") && d.IsDir():
			buf := make([]byte, 8)
			if n, err := unix.Lgetxattr(p, "user.overlay.opaque", buf); err == nil && string(buf[:n]) == "y" {
				opaque++
			}
			if _, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf); err == nil {
				t.Errorf("%s carries trusted.overlay.opaque, which a rootless overlay does not read", p)
			}
		}
		return nil
	})
	if newFile != 1 || keptFile != 1 || whiteout != 1 || opaque != 1 {
		t.Errorf("in the user's store: %d /opq/new, %d chowned /srv/kept, %d whiteouts of /srv/www, %d opaque /opq; want 1 of each", newFile, keptFile, whiteout, opaque)
	}
	u.hoist(t, dir, "down")
}

// TestRootlessKeepID: with userns_mode keep-id the container runs as the
// user's own uid and gid, the same numbers inside as on the host, and
// what it writes to a bind mount is the user's on the host. The other
// ids of the image keep their owners. As root, keep-id is refused,
// naming the service.
func TestRootlessKeepID(t *testing.T) {
	u := newRootlessUser(t)
	u.importImage(t) // /srv/www is 33's
	dir := u.mkdir(t, "keep")
	out := u.mkdir(t, "keep/out")
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  w:\n    image: "+testImage+"\n    userns_mode: keep-id\n    volumes: [\"./out:/out\"]\n")
	got := u.hoist(t, dir, "run", "--rm", "w", "sh", "-c",
		"id -u; id -g; echo hi > /out/f; stat -c %u:%g /out /out/f /srv/www")
	want := []string{strconv.Itoa(u.uid), strconv.Itoa(u.gid),
		fmt.Sprintf("%d:%d", u.uid, u.gid), fmt.Sprintf("%d:%d", u.uid, u.gid), "33:33"}
	if lines := strings.Split(strings.TrimSpace(got), "\n"); !slices.Equal(lines, want) {
		t.Errorf("run --rm with keep-id: got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	fi, err := os.Stat(filepath.Join(out, "f"))
	if err != nil {
		t.Fatalf("the container's file on the host: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != u.uid || int(st.Gid) != u.gid {
		t.Errorf("the container's file is %d:%d on the host, want the user's %d:%d", st.Uid, st.Gid, u.uid, u.gid)
	}
	// The project's anchor holds the keep-id mapping: taking keep-id
	// away while it runs is refused, not silently mixed.
	u.writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  w:\n    image: "+testImage+"\n    volumes: [\"./out:/out\"]\n")
	if msg, err := u.hoistErr(dir, "up", "-d"); err == nil || !strings.Contains(msg, "run hoist down first") {
		t.Errorf("up without keep-id on a keep-id anchor: err %v, output:\n%s", err, msg)
	}
	u.hoist(t, dir, "down")
	// Without keep-id the container's root is the user, and its file on
	// the bind mount is the user's as well, but its ids inside are 0.
	got = u.hoist(t, dir, "run", "--rm", "w", "sh", "-c", "id -u; echo x > /out/g; stat -c %u /out/g")
	if strings.TrimSpace(got) != "0\n0" {
		t.Errorf("run --rm without keep-id: %q", got)
	}
	u.hoist(t, dir, "down")
	// keep-id's root is the range's uid-1th id on the host.
	for _, id := range []int{u.uid, u.subUID + u.uid - 1} {
		if pids := userPids(id); len(pids) > 0 {
			t.Errorf("processes of uid %d after down: %v", id, pids)
		}
	}

	// As root there is no namespace whose ids keep-id could keep, and
	// the Docker Engine has no such mode: both refuse, naming the key.
	rootDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rootDir, "compose.yaml"), []byte("services:\n  w:\n    image: "+testImage+"\n    userns_mode: keep-id\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	engines := []string{"native"}
	if os.Getenv("HOIST_REQUIRE_DOCKER") == "1" {
		engines = append(engines, "docker")
	}
	for _, engine := range engines {
		project := "rlkeep" + engine + strings.ToLower(u.name[3:])
		cmd := exec.Command(hoistBin, "--engine", engine, "-p", project, "run", "--rm", "w", "true")
		cmd.Dir = rootDir
		msg, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(msg), "services.w.userns_mode: keep-id") {
			t.Errorf("keep-id as root on the %s engine: err %v, output:\n%s", engine, err, msg)
		}
		down := exec.Command(hoistBin, "--engine", engine, "-p", project, "down")
		down.Dir = rootDir
		if out, err := down.CombinedOutput(); err != nil {
			t.Errorf("down on the %s engine: %v: %s", engine, err, out)
		}
	}
}

// TestRootlessSample runs the seed's sample as a user, no daemon: the
// images are imported into the user's store from the sample's rootfs
// (samples/images/load.sh's tarball, HOIST_SAMPLE_ROOTFS), web is built
// rootless (its RUN pip install runs in the user namespace), db becomes
// healthy and web answers through its published port, counting. The
// ports are free ones, not 5001 and 6379, which other tests on this
// machine publish.
func TestRootlessSample(t *testing.T) {
	rootfs := os.Getenv("HOIST_SAMPLE_ROOTFS")
	if rootfs == "" {
		if os.Getenv("HOIST_REQUIRE_NATIVE") == "1" {
			t.Fatal("HOIST_REQUIRE_NATIVE=1 but HOIST_SAMPLE_ROOTFS is not set: eval \"$(samples/images/load.sh)\" and export it")
		}
		t.Skip("HOIST_SAMPLE_ROOTFS is not set (samples/images/load.sh)")
	}
	u := newRootlessUser(t)
	const python, redis = testimage.SamplePython, testimage.SampleRedis
	u.hoist(t, u.home, testimage.SampleImportArgs(rootfs, python)...)
	u.hoist(t, u.home, testimage.SampleImportArgs(rootfs, redis)...)

	dir := u.mkdir(t, "sample")
	src := filepath.Join("..", "samples", "flask-redis")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	web, db := freePort(t), freePort(t)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if e.Name() == "compose.yaml" {
			s = strings.Replace(s, `"5001:5001"`, fmt.Sprintf(`"127.0.0.1:%d:5001"`, web), 1)
			s = strings.Replace(s, `"6379:6379"`, fmt.Sprintf(`"127.0.0.1:%d:6379"`, db), 1)
		}
		u.writeFile(t, filepath.Join(dir, e.Name()), s)
	}
	u.writeFile(t, filepath.Join(dir, ".env"), "PYTHON_IMAGE="+python+"\nREDIS_IMAGE="+redis+"\n")
	out := u.hoist(t, dir, "up", "-d", "--build", "--wait")
	ps := u.hoist(t, dir, "ps")
	if !strings.Contains(ps, "healthy") || strings.Count(ps, "healthy") < 2 {
		t.Errorf("ps after up --wait: want web and db healthy:\n%s\n(up said:\n%s)", ps, out)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", web)
	waitBody(t, url, "I have been seen 1 times", 30*time.Second)
	waitBody(t, url, "I have been seen 2 times", 10*time.Second)
	// exec and logs reach the rootless containers.
	if got := u.hoist(t, dir, "exec", "-T", "db", "redis-cli", "get", "hits"); strings.TrimSpace(got) != "2" {
		t.Errorf("exec db redis-cli get hits: %q", got)
	}
	if logs := u.hoist(t, dir, "logs", "web"); !strings.Contains(logs, "GET / ") {
		t.Errorf("logs web shows no request:\n%s", logs)
	}
	// redis answers through its published port.
	if got := redisPing(t, db); got != "+PONG" {
		t.Errorf("PING through 127.0.0.1:%d: %q", db, got)
	}

	// watch as the user: an edit of app.py is synced, web restarted and
	// the new text served; an edit of req.txt rebuilds web; SIGINT ends
	// watch with 130.
	watch := exec.Command("setpriv", "--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid), "--init-groups", "--", u.bin, "--progress", "plain", "watch")
	watch.Dir = dir
	watch.Env = []string{"HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
	var wout syncBuffer
	watch.Stdout, watch.Stderr = &wout, &wout
	// A process group of its own, as a terminal's job: SIGINT reaches
	// the rootless command in the namespace too.
	watch.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- watch.Wait() }()
	defer func() {
		_ = syscall.Kill(-watch.Process.Pid, syscall.SIGKILL)
	}()
	deadline := time.Now().Add(120 * time.Second)
	for !regexp.MustCompile(`(?m)^watching \d+ directories`).MatchString(wout.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("watch as a user did not start watching:\n%s", wout.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	app := filepath.Join(dir, "app.py")
	b, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	u.writeFile(t, app, strings.Replace(string(b), "Hello from hoist!", "Hello from rootless watch!", 1))
	waitBody(t, url, "Hello from rootless watch!", 60*time.Second)
	if out := wout.String(); !regexp.MustCompile(`(?m)^web: synced \d+ files?`).MatchString(out) {
		t.Errorf("watch did not report the sync:\n%s", out)
	}
	// req.txt: the rebuild rule builds web's image again as the user
	// (its RUN steps in the user namespace) and recreates web, which
	// serves the edited app from a new container.
	before := strings.TrimSpace(u.hoist(t, dir, "ps", "-q", "web"))
	req := filepath.Join(dir, "req.txt")
	rb, err := os.ReadFile(req)
	if err != nil {
		t.Fatal(err)
	}
	u.writeFile(t, req, string(rb)+"# touched by the rootless watch test\n")
	deadline = time.Now().Add(300 * time.Second)
	for !regexp.MustCompile(`(?m)^web: rebuilt and recreated \(`).MatchString(wout.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("watch as a user did not rebuild web after req.txt changed:\n%s", wout.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after := strings.TrimSpace(u.hoist(t, dir, "ps", "-q", "web")); after == before || len(after) != 64 {
		t.Errorf("web after the rebuild: %q, before %q: want a new container", after, before)
	}
	waitBody(t, url, "Hello from rootless watch!", 60*time.Second)
	if err := syscall.Kill(-watch.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-watchDone:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("watch after SIGINT: %v, want exit 130:\n%s", err, wout.String())
		}
	case <-time.After(60 * time.Second):
		t.Errorf("watch did not end 60 s after SIGINT:\n%s", wout.String())
	}
	u.hoist(t, dir, "down", "-t", "1")
	for _, id := range []int{u.uid} {
		if pids := userPids(id); len(pids) > 0 {
			t.Errorf("processes of uid %d after down: %v", id, pids)
		}
	}
	if files := runDirFiles(t, u); len(files) > 0 {
		t.Errorf("files left in the run dir after down: %v", files)
	}
	u.hoist(t, u.home, "system", "reset", "--force")
}

// redisPing sends PING to the redis on 127.0.0.1:port and returns its
// first line.
func redisPing(t *testing.T, port int) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("redis on port %d: %v", port, err)
	}
	return strings.TrimSpace(line)
}
