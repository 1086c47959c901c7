package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hoist-dev/hoist/internal/testimage"
)

// Attacks on the rootless engine by another local user and by the user's
// own environment; each asserts what is on the host afterwards.

// hoistEnv runs hoist as u in dir with extra environment, through the
// wrapper commands given before the binary (unshare -r, say).
func (u *rootlessUser) hoistEnv(dir string, env []string, wrap []string, args ...string) (string, error) {
	argv := []string{"--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid), "--init-groups", "--"}
	argv = append(append(append(argv, wrap...), u.bin), args...)
	cmd := exec.Command("setpriv", argv...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}, env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// TestRootlessResetNeedsForceInAnyUserns: system reset run in a user
// namespace other than a holder's (unshare -r here; a toolbox or a
// devcontainer in real life) is refused without --force, and the
// directory HOIST_ROOT names keeps its files. It used to take the
// holder's path, which trusted HOIST_ROOT and asked for nothing.
func TestRootlessResetNeedsForceInAnyUserns(t *testing.T) {
	u := newRootlessUser(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux): %v", err)
	}
	victim := u.mkdir(t, "work")
	precious := filepath.Join(victim, "thesis.tex")
	u.writeFile(t, precious, "years of work\n")
	out, err := u.hoistEnv(u.home, []string{"HOIST_ROOT=" + victim}, []string{"unshare", "-r"}, "system", "reset")
	b, rerr := os.ReadFile(precious)
	if rerr != nil || string(b) != "years of work\n" {
		t.Fatalf("system reset without --force in a user namespace removed %s (%v)\n%s", precious, rerr, out)
	}
	if err == nil || !strings.Contains(out, "--force") {
		t.Errorf("system reset without --force: %v, want a refusal naming --force\n%s", err, out)
	}
	// With --force, on the host, HOIST_ROOT mistyped as a directory of
	// the user's work: refused, the work kept.
	out, err = u.hoistEnv(u.home, []string{"HOIST_ROOT=" + victim}, nil, "system", "reset", "--force")
	b, rerr = os.ReadFile(precious)
	if rerr != nil || string(b) != "years of work\n" {
		t.Fatalf("system reset --force with HOIST_ROOT=%s removed %s (%v)\n%s", victim, precious, rerr, out)
	}
	if err == nil || !strings.Contains(out, "not a hoist store") {
		t.Errorf("system reset --force of a directory that is no store: %v, want a refusal\n%s", err, out)
	}
}

// TestRootlessRunDirSquatted: another user who makes /tmp/hoist-<uid>
// first (a directory open to all, or a symlink to one of theirs) gets a
// refusal, not the victim's run state: nothing of the victim's appears
// in the attacker's directory.
func TestRootlessRunDirSquatted(t *testing.T) {
	a := newRootlessUser(t)
	b := newRootlessUser(t)
	runDir := filepath.Join(os.TempDir(), "hoist-"+strconv.Itoa(a.uid))
	trap := b.mkdir(t, "trap")
	if err := os.Chmod(trap, 0o777); err != nil {
		t.Fatal(err)
	}
	proj := a.mkdir(t, "p")
	a.writeFile(t, filepath.Join(proj, "compose.yaml"), "services:\n  box:\n    image: "+testImage+"\n    command: [\"true\"]\n")
	for _, squat := range []struct {
		name string
		make func() error
	}{
		{"symlink", func() error { return os.Symlink(trap, runDir) }},
		{"directory", func() error {
			if err := os.Mkdir(runDir, 0o777); err != nil {
				return err
			}
			return errors.Join(os.Chmod(runDir, 0o777), os.Lchown(runDir, b.uid, b.gid))
		}},
	} {
		_ = os.RemoveAll(runDir)
		if err := squat.make(); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(runDir, b.uid, b.gid); err != nil {
			t.Fatal(err)
		}
		out, err := a.hoistErr(proj, "--engine", "native", "up", "-d")
		if err == nil || !strings.Contains(out, "is not a directory of uid") {
			t.Errorf("%s: up with the run dir squatted: %v, want a refusal\n%s", squat.name, err, out)
		}
		for _, d := range []string{trap, runDir} {
			ents, _ := os.ReadDir(d)
			if len(ents) > 0 {
				t.Errorf("%s: %s has the victim's files: %v", squat.name, d, ents)
			}
		}
		fi, err := os.Lstat(runDir)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != b.uid {
			t.Errorf("%s: the squatted run dir now belongs to uid %d", squat.name, st.Uid)
		}
	}
	_ = os.RemoveAll(runDir)
}

// TestRootlessUnmappedOwnerLosesSetuid: an image file whose owner is
// outside the user namespace's mapping is left to the namespace's root;
// a setuid (setgid) bit meant for that owner (group) must not come with
// it, or a container's unprivileged user runs it as root. A setuid file
// of a mapped owner keeps its bit, and its owner, on the host.
func TestRootlessUnmappedOwnerLosesSetuid(t *testing.T) {
	u := newRootlessUser(t)
	var base bytes.Buffer
	if err := testimage.WriteRootfs(&base); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(u.home, "setuid.tar")
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
	// 70000 is past the 65536 ids useradd gives the user.
	files := []struct {
		name     string
		uid, gid int
		mode     int64
	}{{"srv/suid-unmapped", 70000, 0, 0o4755}, {"srv/sgid-unmapped", 0, 70000, 0o2755}, {"srv/suid-www", 33, 33, 0o4755}}
	if err := tw.WriteHeader(&tar.Header{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for _, e := range files {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Uid: e.uid, Gid: e.gid, Mode: e.mode, Typeflag: tar.TypeReg, Size: 2}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte("x\n")); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	u.chown(t, tarball)
	u.hoist(t, u.home, "--engine", "native", "image", "import", tarball, "hoist-test/setuid:latest")

	found := map[string]os.FileInfo{}
	err = filepath.Walk(filepath.Join(u.home, ".local", "share", "hoist", "layers"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(filepath.Dir(p), "/srv") {
			found[fi.Name()] = fi
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"suid-unmapped", "sgid-unmapped"} {
		fi, ok := found[name]
		if !ok {
			t.Fatalf("%s not unpacked (found %v)", name, found)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
			t.Errorf("%s: left to the namespace's root (host %d:%d) with mode %v: its setuid/setgid bit now gives root", name, st.Uid, st.Gid, fi.Mode())
		}
	}
	fi, ok := found["suid-www"]
	if !ok {
		t.Fatalf("suid-www not unpacked")
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode()&os.ModeSetuid == 0 || int(st.Uid) != u.subUID+32 {
		t.Errorf("suid-www: host owner %d mode %v, want %d with setuid", st.Uid, fi.Mode(), u.subUID+32)
	}
}
