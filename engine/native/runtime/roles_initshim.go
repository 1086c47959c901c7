//go:build hoistinit

package runtime

import "errors"

// runMonitor is left out of the init binary (initshim): a monitor starts
// containers, which needs the host side of this package. hoist runs its
// monitors from its own binary.
func runMonitor() int {
	reportError(errors.New("the monitor role is not part of hoist's init binary"))
	return 2
}
