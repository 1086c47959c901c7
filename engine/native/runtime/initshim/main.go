// Command initshim is the native runtime's init binary: the container-side
// roles of engine/native/runtime (the container's init, the final step
// before the command, the exec helper) and nothing else, so it starts in
// a millisecond where hoist's full binary spends tens of them in package
// initialisation. `go generate ./engine/native/runtime` builds it, with
// the hoistinit build tag that leaves the host side of the package out,
// into runtime/initbin, where hoist embeds it; without it hoist runs
// these roles from its own binary.
package main

import (
	"os"

	"github.com/hoist-dev/hoist/engine/native/runtime"
)

func main() {
	if !runtime.MaybeInit() {
		os.Stderr.WriteString("hoist-init is the native runtime's container init; hoist runs it\n")
		os.Exit(2)
	}
}
