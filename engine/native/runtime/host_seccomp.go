//go:build !hoistinit

package runtime

import (
	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
	"github.com/hoist-dev/hoist/engine/native/runtime/seccomp"
)

// seccompFor returns the program a process with sec gets (Docker's default
// profile, see package seccomp), nil when it runs without seccomp. The
// bounding set is hoist's own (the container's starts as a copy of it), as
// in prepareFinal.
func seccompFor(sec Security) (*seccomp.Program, error) {
	if sec.Privileged || sec.SeccompUnconfined {
		return nil, nil
	}
	set, err := sec.capabilities()
	if err != nil {
		return nil, err
	}
	return seccomp.Default(set & caps.Bounding())
}
