package inroot

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzWalkMatchesOpenat2: with links whose targets the fuzzer picks, the
// walk and openat2 open the same file or fail the same way, and whatever
// either opens lies inside the root.
func FuzzWalkMatchesOpenat2(f *testing.F) {
	f.Add("../..", "/d", "l1/l2/x")
	f.Add("/", "..", "d/l2/../l1/etc")
	f.Add("d/l2", "../l1", "l1")
	f.Add("etc/", "/etc/.", "d/l2/")
	f.Add("../../outside", "/tmp", "l1/sentinel")
	f.Fuzz(func(t *testing.T, t1, t2, p string) {
		// open is only ever given clean, non-empty paths ("." for the
		// root); the fuzzer's p may be anything else.
		if p == "" || strings.ContainsRune(t1+t2+p, 0) || len(t1) > 200 || len(t2) > 200 || len(p) > 200 {
			return
		}
		a := newAttackTree(t)
		if os.Symlink(t1, filepath.Join(a.root, "l1")) != nil || os.Symlink(t2, filepath.Join(a.root, "d", "l2")) != nil {
			return
		}
		r, w := a.open(t, false), a.open(t, true)
		for _, how := range []Resolve{InRoot, NoSymlinks} {
			for _, flags := range []int{unix.O_PATH, unix.O_PATH | unix.O_NOFOLLOW, unix.O_RDONLY | unix.O_DIRECTORY} {
				fd1, err1 := r.open(p, how, flags, 0)
				fd2, err2 := w.open(p, how, flags, 0)
				if !sameResult(fd1, err1, fd2, err2) {
					t.Errorf("%q (how %d, flags %#x): openat2 %s, walk %s", p, how, flags, describe(fd1, err1), describe(fd2, err2))
				}
				for _, fd := range []int{fd1, fd2} {
					if fd < 0 {
						continue
					}
					got, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
					if got != a.root && !strings.HasPrefix(got, a.root+"/") {
						t.Errorf("%q opened %s, outside the root", p, got)
					}
					unix.Close(fd)
				}
			}
		}
		a.checkOutside(t)
	})
}
