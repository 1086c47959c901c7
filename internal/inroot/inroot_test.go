package inroot

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Every test runs twice: with openat2, and with the component walk that
// stands in for it where the kernel has none.
var modes = []struct {
	name string
	walk bool
}{{"openat2", false}, {"walk", true}}

func forEachMode(t *testing.T, fn func(t *testing.T, walk bool)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { fn(t, m.walk) })
	}
}

// attackTree is a root and, beside it, a directory "outside" holding a
// sentinel file; the root holds the links a hostile container would make:
//
//	abs      -> <base>/outside          absolute, to the host path
//	rel      -> ../outside              relative, climbing out
//	d/deep   -> ../../../../../outside  relative, climbing far
//	d/slash  -> /
//	dangling -> <base>/outside/missing/deeper
//	loop     -> loop
//	etc/hostname, f: regular files; e -> /etc
type attackTree struct {
	base, root, outside, sentinel string
}

func newAttackTree(t *testing.T) attackTree {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "inroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	a := attackTree{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	a.sentinel = filepath.Join(a.outside, "sentinel")
	must(t, os.MkdirAll(filepath.Join(a.root, "d"), 0o755))
	must(t, os.MkdirAll(filepath.Join(a.root, "etc"), 0o755))
	must(t, os.Mkdir(a.outside, 0o755))
	must(t, os.WriteFile(a.sentinel, []byte("host"), 0o644))
	must(t, os.WriteFile(filepath.Join(a.root, "etc", "hostname"), []byte("in-root"), 0o644))
	must(t, os.WriteFile(filepath.Join(a.root, "f"), []byte("file"), 0o644))
	for link, target := range map[string]string{
		"abs":      a.outside,
		"rel":      "../outside",
		"d/deep":   "../../../../../outside",
		"d/slash":  "/",
		"dangling": filepath.Join(a.outside, "missing", "deeper"),
		"loop":     "loop",
		"e":        "/etc",
	} {
		must(t, os.Symlink(target, filepath.Join(a.root, link)))
	}
	return a
}

// checkOutside fails unless outside holds exactly its sentinel, unchanged.
func (a attackTree) checkOutside(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(a.outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "sentinel" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("outside the root now holds %v", names)
	}
	if raw, err := os.ReadFile(a.sentinel); err != nil || string(raw) != "host" {
		t.Fatalf("sentinel outside the root: %q, %v", raw, err)
	}
}

func (a attackTree) open(t *testing.T, walk bool) *Root {
	t.Helper()
	r, err := Open(a.root)
	if err != nil {
		t.Fatal(err)
	}
	r.walk = walk
	t.Cleanup(func() { r.Close() })
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, f *os.File) string {
	t.Helper()
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestInRootFollowsLinksInsideTheRoot(t *testing.T) {
	forEachMode(t, func(t *testing.T, walk bool) {
		a := newAttackTree(t)
		r := a.open(t, walk)
		for _, p := range []string{"e/hostname", "d/slash/etc/hostname", "d/slash/d/slash/e/hostname", "/etc/../etc/hostname"} {
			f, err := r.OpenFile(p, InRoot, unix.O_RDONLY, 0)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if got := readAll(t, f); got != "in-root" {
				t.Errorf("%s read %q", p, got)
			}
		}
		// The links that point out of the root point into it instead:
		// "outside" is looked for at the root's own <base>/outside.
		for _, p := range []string{"abs/sentinel", "rel/sentinel", "d/deep/sentinel", "dangling"} {
			if _, err := r.OpenFile(p, InRoot, unix.O_RDONLY, 0); !errors.Is(err, unix.ENOENT) {
				t.Errorf("%s: err = %v, want ENOENT", p, err)
			}
		}
		// Made inside the root, the links' targets are what they reach:
		// abs its <base>/outside, the relative ones /outside.
		for _, dir := range []string{a.outside, "/outside"} {
			inside := filepath.Join(a.root, dir)
			must(t, os.MkdirAll(inside, 0o755))
			must(t, os.WriteFile(filepath.Join(inside, "sentinel"), []byte("root's"), 0o644))
		}
		for _, p := range []string{"abs/sentinel", "rel/sentinel", "d/deep/sentinel"} {
			f, err := r.OpenFile(p, InRoot, unix.O_RDONLY, 0)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if got := readAll(t, f); got != "root's" {
				t.Errorf("%s read %q, want the root's own file", p, got)
			}
		}
		if _, err := r.OpenFile("loop/x", InRoot, unix.O_RDONLY, 0); !errors.Is(err, unix.ELOOP) {
			t.Errorf("loop: err = %v, want ELOOP", err)
		}
		if _, err := r.OpenFile("f/x", InRoot, unix.O_RDONLY, 0); !errors.Is(err, unix.ENOTDIR) {
			t.Errorf("f/x: err = %v, want ENOTDIR", err)
		}
		a.checkOutside(t)
	})
}

func TestWritesThroughLinksStayInside(t *testing.T) {
	forEachMode(t, func(t *testing.T, walk bool) {
		a := newAttackTree(t)
		r := a.open(t, walk)
		// Above the target: MkdirAll through every kind of link. As mkdir
		// -p in the container would, it fails while a link's target is
		// missing in the root (all of them point nowhere there yet).
		above := []string{"abs/src", "rel/src", "d/deep/src", "dangling/src"}
		for _, p := range above {
			if d, err := r.MkdirAll(p, InRoot, 0o755, nil); err == nil {
				d.Close()
				t.Errorf("MkdirAll %s went through a link to nothing", p)
			}
		}
		a.checkOutside(t)
		// With the targets present in the root, it lands there. (mkdir
		// does not follow a dangling link, so dangling/src still fails.)
		must(t, os.MkdirAll(filepath.Join(a.root, a.outside, "missing"), 0o755))
		must(t, os.MkdirAll(filepath.Join(a.root, "outside"), 0o755))
		for _, p := range []string{"abs/src", "rel/src", "d/deep/src", "d/slash/tmp/src"} {
			d, err := r.MkdirAll(p, InRoot, 0o755, nil)
			if err != nil {
				t.Fatalf("MkdirAll %s: %v", p, err)
			}
			// rel and d/deep reach the same /outside.
			f, err := d.OpenFile("a.txt", NoSymlinks, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644)
			d.Close()
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			f.WriteString("synced")
			f.Close()
		}
		for _, p := range []string{a.outside + "/src", "outside/src", "tmp/src"} {
			if _, err := os.Stat(filepath.Join(a.root, p, "a.txt")); err != nil {
				t.Errorf("not made inside the root: %v", err)
			}
		}
		a.checkOutside(t)
		// The last component: O_CREAT follows a dangling link inside.
		f, err := r.OpenFile("dangling", InRoot, unix.O_WRONLY|unix.O_CREAT, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, err := os.Stat(filepath.Join(a.root, a.outside, "missing", "deeper")); err != nil {
			t.Errorf("dangling link not created inside the root: %v", err)
		}
		// O_EXCL and O_NOFOLLOW never follow it.
		for _, flags := range []int{unix.O_CREAT | unix.O_EXCL, unix.O_CREAT | unix.O_NOFOLLOW} {
			if f, err := r.OpenFile("abs", InRoot, unix.O_WRONLY|flags, 0o644); err == nil {
				f.Close()
				t.Errorf("flags %#x opened the link", flags)
			}
		}
		a.checkOutside(t)
	})
}

func TestNoSymlinksRefusesEveryLink(t *testing.T) {
	forEachMode(t, func(t *testing.T, walk bool) {
		a := newAttackTree(t)
		r := a.open(t, walk)
		for _, p := range []string{"abs", "abs/x", "rel/x", "d/deep/x", "d/slash/etc", "dangling", "loop", "e/hostname"} {
			if _, err := r.OpenFile(p, NoSymlinks, unix.O_RDONLY, 0); !errors.Is(err, unix.ELOOP) {
				t.Errorf("open %s: err = %v, want ELOOP", p, err)
			}
			if d, err := r.MkdirAll(p+"/new", NoSymlinks, 0o755, nil); err == nil {
				d.Close()
				t.Errorf("MkdirAll %s/new went through", p)
			}
		}
		// O_PATH|O_NOFOLLOW opens the link itself, as openat2 does.
		f, err := r.OpenFile("abs", NoSymlinks, unix.O_PATH|unix.O_NOFOLLOW, 0)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		must(t, unix.Fstat(int(f.Fd()), &st))
		f.Close()
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("O_PATH|O_NOFOLLOW opened mode %o", st.Mode)
		}
		// Below a directory opened as a root, ".." cannot climb out.
		d, err := r.OpenDir("d", NoSymlinks)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		d.walk = walk
		if _, err := d.walkOpenOrOpenat2("../f", NoSymlinks); !errors.Is(err, unix.EXDEV) {
			t.Errorf("../f below d: err = %v, want EXDEV", err)
		}
		a.checkOutside(t)
	})
}

// walkOpenOrOpenat2 opens a path as given, not cleaned, to see how ".."
// in it is treated.
func (r *Root) walkOpenOrOpenat2(p string, how Resolve) (int, error) {
	fd, err := r.open(p, how, unix.O_PATH, 0)
	if err == nil {
		unix.Close(fd)
	}
	return fd, err
}

func TestRemoveNeverFollows(t *testing.T) {
	forEachMode(t, func(t *testing.T, walk bool) {
		a := newAttackTree(t)
		r := a.open(t, walk)
		// A directory holding links to outside, removed whole.
		must(t, os.MkdirAll(filepath.Join(a.root, "victim", "sub"), 0o755))
		must(t, os.Symlink(a.outside, filepath.Join(a.root, "victim", "sub", "out")))
		must(t, os.Symlink("../../../outside", filepath.Join(a.root, "victim", "up")))
		must(t, os.Symlink(a.sentinel, filepath.Join(a.root, "victim", "file")))
		must(t, r.RemoveAll("victim", InRoot))
		if _, err := os.Lstat(filepath.Join(a.root, "victim")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("victim left: %v", err)
		}
		// A link as the last component is removed itself.
		for _, p := range []string{"abs", "rel", "d/deep", "dangling", "loop"} {
			must(t, r.RemoveAll(p, InRoot))
			if _, err := os.Lstat(filepath.Join(a.root, p)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s left: %v", p, err)
			}
		}
		// Through a link above it, the removal happens inside the root.
		must(t, r.RemoveAll("d/slash/outside/sentinel", InRoot))
		must(t, r.RemoveAll("missing/x", InRoot))
		if err := r.RemoveAll("/", InRoot); err == nil {
			t.Error("removed the root")
		}
		for _, bad := range []string{"", ".", "..", "a/b"} {
			if err := RemoveAt(r.FD(), bad); !errors.Is(err, unix.EINVAL) {
				t.Errorf("RemoveAt %q: %v", bad, err)
			}
		}
		a.checkOutside(t)
	})
}

func TestWalkListsWithoutFollowing(t *testing.T) {
	forEachMode(t, func(t *testing.T, walk bool) {
		a := newAttackTree(t)
		r := a.open(t, walk)
		must(t, unix.Mkfifo(filepath.Join(a.root, "fifo"), 0o644))
		var seen []string
		err := r.Walk(func(e *Entry) error {
			seen = append(seen, e.Path)
			switch e.Type() {
			case unix.S_IFLNK:
				if _, err := e.Open(); err == nil {
					t.Errorf("opened link %s", e.Path)
				}
				if _, err := e.Readlink(); err != nil {
					t.Error(err)
				}
			case unix.S_IFIFO:
				if _, err := e.Open(); err == nil {
					t.Errorf("opened fifo %s", e.Path)
				}
			case unix.S_IFREG:
				f, err := e.Open()
				if err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			return nil
		})
		must(t, err)
		want := []string{"abs", "d", "d/deep", "d/slash", "dangling", "e", "etc", "etc/hostname", "f", "fifo", "loop", "rel"}
		if !slices.Equal(seen, want) {
			t.Errorf("walk saw %v\nwant %v", seen, want)
		}
		// A regular file swapped for a link between the listing and the
		// open is refused.
		err = r.Walk(func(e *Entry) error {
			if e.Path != "f" {
				return fs.SkipDir
			}
			must(t, os.Remove(filepath.Join(a.root, "f")))
			must(t, os.Symlink(a.sentinel, filepath.Join(a.root, "f")))
			if f, err := e.Open(); err == nil {
				t.Errorf("opened %s after the swap: %q", e.Path, readAll(t, f))
			}
			return nil
		})
		must(t, err)
		a.checkOutside(t)
	})
}

func TestLstatAndParent(t *testing.T) {
	forEachMode(t, func(t *testing.T, walk bool) {
		a := newAttackTree(t)
		r := a.open(t, walk)
		st, err := r.Lstat("abs", InRoot)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("Lstat abs: %o, %v", st.Mode, err)
		}
		st, err = r.Lstat("d/slash/etc/hostname", InRoot)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != int64(len("in-root")) {
			t.Errorf("Lstat through d/slash: %+v, %v", st, err)
		}
		if _, err := r.Lstat("abs/sentinel", InRoot); !errors.Is(err, unix.ENOENT) {
			t.Errorf("Lstat abs/sentinel: %v", err)
		}
		st, err = r.Lstat("/", InRoot)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			t.Errorf("Lstat /: %v", err)
		}
	})
}

// The walk and openat2 agree on every path over a tree of links: the same
// inode, or the same error.
func TestWalkMatchesOpenat2(t *testing.T) {
	a := newAttackTree(t)
	must(t, os.MkdirAll(filepath.Join(a.root, a.outside), 0o755))
	must(t, os.Symlink("d", filepath.Join(a.root, "dd")))
	must(t, os.Symlink("../etc", filepath.Join(a.root, "d", "up")))
	names := []string{"abs", "rel", "d", "dd", "d/deep", "d/slash", "d/up", "dangling", "loop", "e", "etc", "f", "..", ".", "missing"}
	var paths []string
	for _, x := range names {
		paths = append(paths, x)
		for _, y := range names {
			paths = append(paths, x+"/"+y)
		}
	}
	paths = append(paths, "d/up/hostname", "dd/up/hostname", "d/slash/dd/deep", "abs/..", "d/deep/../etc")
	for _, how := range []Resolve{InRoot, NoSymlinks} {
		for _, flags := range []int{unix.O_PATH, unix.O_PATH | unix.O_NOFOLLOW, unix.O_RDONLY, unix.O_PATH | unix.O_DIRECTORY} {
			for _, p := range paths {
				r := a.open(t, false)
				w := a.open(t, true)
				fd1, err1 := r.open(p, how, flags, 0)
				fd2, err2 := w.open(p, how, flags, 0)
				if !errors.Is(err1, unix.ENOSYS) && !sameResult(fd1, err1, fd2, err2) {
					t.Errorf("%s (how %d, flags %#x): openat2 %s, walk %s", p, how, flags, describe(fd1, err1), describe(fd2, err2))
				}
				for _, fd := range []int{fd1, fd2} {
					if fd >= 0 {
						unix.Close(fd)
					}
				}
				r.Close()
				w.Close()
			}
		}
	}
	a.checkOutside(t)
}

func sameResult(fd1 int, err1 error, fd2 int, err2 error) bool {
	if err1 != nil || err2 != nil {
		return errors.Is(err1, errnoOf(err2)) && errnoOf(err2) != nil
	}
	var s1, s2 unix.Stat_t
	return unix.Fstat(fd1, &s1) == nil && unix.Fstat(fd2, &s2) == nil && s1.Dev == s2.Dev && s1.Ino == s2.Ino
}

func errnoOf(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func describe(fd int, err error) string {
	if err != nil {
		return err.Error()
	}
	p, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	return p
}
