package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/internal/testimage"
)

// The rootless scenario times the native engine rootless (as a user made
// for the run with useradd, removed with userdel -r at the end) beside
// the native engine as root, in turns, in the same run: the sample from
// up -d until it answers, run --rm box true, fan20 up -d and down, a bulk transfer through a published port
// (each engine's own port carrier), and a bulk transfer from a server on
// this machine's own address (root: the bridge's NAT; rootless: the
// supervisor's outbound carrier). Goals (issue 14): each rootless time
// within 1.3× of root's, each throughput at least 50% of root's.

// rootlessBytes is the size of one bulk transfer.
const rootlessBytes = 256 << 20

type rootlessSide struct {
	name string
	// hoist runs the engine's hoist with args in dir.
	hoist func(ctx context.Context, dir string, args ...string) error
	root  string // a directory the side may write
	// owner is the uid and gid that own the side's files (nil: root).
	owner *[2]int
}

type rootlessBench struct {
	rows []rootlessRow
	err  error
}

type rootlessRow struct {
	what       string
	unit       string // "s" or "MB/s"
	root, user []float64
}

func (b *bench) runRootlessScenario(ctx context.Context, hoistBin string) *rootlessBench {
	rb := &rootlessBench{}
	rb.err = b.rootlessScenario(ctx, hoistBin, rb)
	return rb
}

func (b *bench) rootlessScenario(ctx context.Context, hoistBin string, rb *rootlessBench) error {
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "hbrl" + hex.EncodeToString(suffix[:])
	if out, err := exec.CommandContext(ctx, "useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		return fmt.Errorf("useradd: %v: %s", err, out)
	}
	defer func() {
		_ = exec.Command("pkill", "-9", "-U", name).Run() // only this run's user
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			b.logf("rootless: userdel -r %s: %v: %s", name, err, out)
		}
	}()
	uid, gid, home, err := userIDs(name)
	if err != nil {
		return err
	}
	bin := filepath.Join(home, "hoist")
	if err := copyFile(hoistBin, bin, 0o755); err != nil {
		return err
	}
	asUser := func(ctx context.Context, dir string, args ...string) error {
		c := exec.CommandContext(ctx, "setpriv", append([]string{"--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(gid), "--init-groups", "--", bin, "--engine", "native"}, args...)...)
		c.Dir = dir
		c.Env = []string{"HOME=" + home, "USER=" + name, "LOGNAME=" + name, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Run(); err != nil {
			return fmt.Errorf("rootless hoist %s: %v: %s", strings.Join(args, " "), err, tail(out.String(), 5))
		}
		return nil
	}
	rootDir := filepath.Join(b.tmp, "rootless-root")
	rootEnv := append(withoutEnv(os.Environ(), "HOIST_ENGINE"), "HOIST_ROOT="+filepath.Join(rootDir, "root"), "HOIST_RUN_DIR="+filepath.Join(rootDir, "state"))
	asRoot := func(ctx context.Context, dir string, args ...string) error {
		c := exec.CommandContext(ctx, hoistBin, append([]string{"--engine", "native"}, args...)...)
		c.Dir, c.Env = dir, rootEnv
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("hoist %s: %v: %s", strings.Join(args, " "), err, tail(string(out), 5))
		}
		return nil
	}
	sides := []rootlessSide{{"root", asRoot, rootDir, nil}, {"rootless", asUser, filepath.Join(home, "bench"), &[2]int{uid, gid}}}
	// In the user's home: the bench's temporary directory is root's alone.
	tar := filepath.Join(home, "busybox.tar")
	if err := writeBusyboxTar(tar); err != nil {
		return err
	}
	if err := os.Chmod(tar, 0o644); err != nil {
		return err
	}
	own, err := ownIPv4()
	if err != nil {
		return err
	}
	big := bytes.Repeat([]byte{'x'}, 1<<20)
	pport := freeTCPPort()
	for _, s := range sides {
		if err := os.MkdirAll(s.root, 0o755); err != nil {
			return err
		}
		if s.name == "rootless" {
			_ = exec.Command("chown", "-R", strconv.Itoa(uid)+":"+strconv.Itoa(gid), s.root).Run()
		}
		if err := s.hoist(ctx, s.root, "image", "import", "--change", `CMD ["sh"]`, tar, busyboxImage); err != nil {
			return err
		}
		files := map[string]string{
			"run":   "services:\n  box:\n    image: " + busyboxImage + "\n    network_mode: none\n",
			"fan20": string(graphCompose("fan", 20, busyboxImage)),
			"xfer": fmt.Sprintf("services:\n  web:\n    image: %s\n    command: [\"sh\", \"-c\", \"dd if=/dev/zero of=/tmp/big bs=1M count=%d 2>/dev/null; exec httpd -f -p 8080 -h /tmp\"]\n    ports: [\"127.0.0.1:%d:8080\"]\n",
				busyboxImage, rootlessBytes>>20, pport),
		}
		for d, f := range files {
			p := filepath.Join(s.root, d)
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(p, "compose.yaml"), []byte(f), 0o644); err != nil {
				return err
			}
			if s.name == "rootless" {
				_ = exec.Command("chown", "-R", strconv.Itoa(uid)+":"+strconv.Itoa(gid), p).Run()
			}
		}
	}
	timeIt := func(f func() error) (float64, error) {
		start := time.Now()
		err := f()
		return time.Since(start).Seconds(), err
	}
	n := max(b.opts.n, 3)
	rows := map[string]*rootlessRow{}
	add := func(what, unit, side string, v float64) {
		r := rows[what]
		if side == "root" {
			r.root = append(r.root, v)
		} else {
			r.user = append(r.user, v)
		}
	}
	for _, w := range [][2]string{{sampleRow, "s"}, {"run --rm box true", "s"}, {"fan20 up -d", "s"}, {"fan20 down", "s"}, {"published port, 256 MiB GET", "MB/s"}, {"outbound TCP, 256 MiB GET", "MB/s"}} {
		rb.rows = append(rb.rows, rootlessRow{what: w[0], unit: w[1]})
	}
	for i := range rb.rows {
		rows[rb.rows[i].what] = &rb.rows[i]
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		for _, s := range sides {
			d := filepath.Join(s.root, "run")
			if i == 0 {
				_ = s.hoist(ctx, d, "-p", "hbrl-run", "run", "--rm", "box", "true") // warm
			}
			v, err := timeIt(func() error { return s.hoist(ctx, d, "-p", "hbrl-run", "run", "--rm", "box", "true") })
			if err != nil {
				return err
			}
			add("run --rm box true", "s", s.name, v)
			d = filepath.Join(s.root, "fan20")
			v, err = timeIt(func() error { return s.hoist(ctx, d, "-p", "hbrl-fan", "up", "-d") })
			if err != nil {
				return err
			}
			add("fan20 up -d", "s", s.name, v)
			v, err = timeIt(func() error { return s.hoist(ctx, d, "-p", "hbrl-fan", "down", "-t", "0") })
			if err != nil {
				return err
			}
			add("fan20 down", "s", s.name, v)
		}
	}
	// Throughput: one project per side, up once, n transfers each way.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for sent := 0; sent < rootlessBytes; sent += len(big) {
			if _, err := w.Write(big); err != nil {
				return
			}
		}
	})}
	ln, err := net.Listen("tcp4", own+":0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Close()
	for _, s := range sides {
		d := filepath.Join(s.root, "xfer")
		if err := s.hoist(ctx, d, "-p", "hbrl-xfer", "up", "-d"); err != nil {
			return err
		}
		err := func() error {
			url := fmt.Sprintf("http://127.0.0.1:%d/big", pport)
			deadline := time.Now().Add(30 * time.Second)
			for {
				r, err := http.Get(url)
				if err == nil {
					r.Body.Close()
					if r.StatusCode == 200 {
						break
					}
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s: published port never answered: %v", s.name, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			for i := 0; i < n; i++ {
				start := time.Now()
				r, err := http.Get(url)
				if err != nil {
					return err
				}
				got, err := io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if err != nil || got != rootlessBytes {
					return fmt.Errorf("%s: published port: %d bytes, %v", s.name, got, err)
				}
				add("published port, 256 MiB GET", "MB/s", s.name, float64(got)/1e6/time.Since(start).Seconds())
				v, err := timeIt(func() error {
					return s.hoist(ctx, d, "-p", "hbrl-xfer", "exec", "web", "sh", "-c", "wget -qO- http://"+ln.Addr().String()+"/ | wc -c | grep -qx "+strconv.Itoa(rootlessBytes))
				})
				if err != nil {
					return err
				}
				add("outbound TCP, 256 MiB GET", "MB/s", s.name, rootlessBytes/1e6/v)
			}
			return nil
		}()
		_ = s.hoist(context.Background(), d, "-p", "hbrl-xfer", "down", "-t", "0")
		if err != nil {
			return err
		}
	}
	for _, s := range sides {
		_ = s.hoist(context.Background(), filepath.Join(s.root, "fan20"), "-p", "hbrl-fan", "down", "-t", "0")
	}
	if err := b.rootlessSample(ctx, sides, n, func(side string, v float64) { add(sampleRow, "s", side, v) }); err != nil {
		return err
	}
	b.logf("rootless: %d rounds done", n)
	return nil
}

const sampleRow = "sample up -d until it answers"

// rootlessSample times the seed's sample (web built, db healthy) from
// up -d until web answers, on each side in turns, from a warm build
// cache, as the sample scenario does for the peers; each round ends with
// down. It needs the sample's rootfs (HOIST_SAMPLE_ROOTFS, which go tool
// task bench exports).
func (b *bench) rootlessSample(ctx context.Context, sides []rootlessSide, n int, add func(side string, v float64)) error {
	rootfs := os.Getenv("HOIST_SAMPLE_ROOTFS")
	if rootfs == "" {
		return errors.New("the sample needs HOIST_SAMPLE_ROOTFS (samples/images/load.sh prints it; go tool task bench exports it)")
	}
	const python, redis = testimage.SamplePython, testimage.SampleRedis
	src := filepath.Join(b.root, "samples", "flask-redis")
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	urls := map[string]string{}
	for _, s := range sides {
		for _, ref := range []string{python, redis} {
			if err := s.hoist(ctx, s.root, testimage.SampleImportArgs(rootfs, ref)...); err != nil {
				return err
			}
		}
		dir := filepath.Join(s.root, "sample")
		web, db := freeTCPPort(), freeTCPPort()
		files := map[string]string{".env": "PYTHON_IMAGE=" + python + "\nREDIS_IMAGE=" + redis + "\n"}
		for _, e := range ents {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				return err
			}
			text := string(data)
			if e.Name() == "compose.yaml" {
				text = strings.Replace(text, `"5001:5001"`, fmt.Sprintf(`"127.0.0.1:%d:5001"`, web), 1)
				text = strings.Replace(text, `"6379:6379"`, fmt.Sprintf(`"127.0.0.1:%d:6379"`, db), 1)
			}
			files[e.Name()] = text
		}
		if err := writeOwned(dir, files, s.owner); err != nil {
			return err
		}
		urls[s.name] = fmt.Sprintf("http://127.0.0.1:%d/", web)
		// Warm: web built once, as the peers' sample is timed with its
		// image built.
		if err := s.hoist(ctx, dir, "-p", "hbrl-sample", "up", "-d", "--build", "--wait"); err != nil {
			return err
		}
		if err := s.hoist(ctx, dir, "-p", "hbrl-sample", "down", "-t", "0"); err != nil {
			return err
		}
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		for _, s := range sides {
			dir := filepath.Join(s.root, "sample")
			pctx, stop := context.WithTimeout(ctx, 2*time.Minute)
			start := time.Now()
			ready := pollHTTP(pctx, urls[s.name], start)
			err := s.hoist(ctx, dir, "-p", "hbrl-sample", "up", "-d")
			d := <-ready
			stop()
			_ = s.hoist(context.Background(), dir, "-p", "hbrl-sample", "down", "-t", "0")
			if err != nil {
				return err
			}
			if d < 0 {
				return fmt.Errorf("%s: the sample did not answer within 2 minutes of up -d", s.name)
			}
			add(s.name, d.Seconds())
		}
	}
	return nil
}

// writeOwned writes files into dir, owned by owner's uid and gid when
// owner is set (the rootless side's user).
func writeOwned(dir string, files map[string]string, owner *[2]int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	if owner == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, owner[0], owner[1])
	})
}

func (rb *rootlessBench) report() string {
	if rb == nil {
		return ""
	}
	var s strings.Builder
	s.WriteString("\n## rootless: the native engine as a new user (useradd) beside root, same run\n\n")
	if rb.err != nil {
		fmt.Fprintf(&s, "failed: %v\n", rb.err)
	}
	s.WriteString("| what | root | rootless | ratio rootless/root | goal |\n|---|---|---|---|---|\n")
	for _, r := range rb.rows {
		a, ok1 := median(r.root)
		u, ok2 := median(r.user)
		if !ok1 || !ok2 {
			continue
		}
		goal := "≤ 1.3"
		if r.unit == "MB/s" {
			goal = "≥ 0.5"
		}
		fmt.Fprintf(&s, "| %s | %.3f %s | %.3f %s | %.2f | %s |\n", r.what, a, r.unit, u, r.unit, u/a, goal)
	}
	s.WriteString("\nThroughput: the bench process GETs through 127.0.0.1's published port; the outbound figure is `hoist exec web wget` of a server on this machine's own address, timed with the exec. podman: Debian 12's podman 4.3.1 installs, but rootless it needs slirp4netns or pasta, which need /dev/net/tun (root-only here, no udev), so it is not measured.\n")
	return s.String()
}

// userIDs reads a user's uid, gid and home from /etc/passwd.
func userIDs(name string) (uid, gid int, home string, err error) {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return 0, 0, "", err
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		f := strings.Split(l, ":")
		if len(f) >= 6 && f[0] == name {
			uid, _ = strconv.Atoi(f[2])
			gid, _ = strconv.Atoi(f[3])
			return uid, gid, f[5], nil
		}
	}
	return 0, 0, "", fmt.Errorf("no user %s", name)
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, mode)
}

// ownIPv4 is one of this machine's addresses other than loopback.
func ownIPv4() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no IPv4 address other than loopback")
}

func freeTCPPort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 18080
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
