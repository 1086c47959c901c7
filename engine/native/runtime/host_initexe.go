//go:build !hoistinit

package runtime

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/initexe"
)

// initBinary is what the container-side roles run from (package
// initexe): the embedded init binary, or hoist's own without it. Tests
// swap it.
var initBinary = initexe.Embedded()

// mayClearImmutable reports whether a process confined by sec could clear
// the immutable flag of a file it can reach, so its helpers must run from
// a private memfd.
func mayClearImmutable(sec Security) bool {
	set, err := sec.capabilities()
	return err != nil || set.Has(unix.CAP_LINUX_IMMUTABLE)
}

// initExecutableFor returns what the init, final and exec helper roles of
// a container confined by sec are executed from: the immutable cached
// copy (fromCache) when the container cannot undo its immutability, the
// sealed memfd otherwise (and whenever the cache cannot be used). The
// caller must not close it.
func initExecutableFor(sec Security) (f *os.File, fromCache bool, err error) {
	return initBinary.Executable(mayClearImmutable(sec))
}
