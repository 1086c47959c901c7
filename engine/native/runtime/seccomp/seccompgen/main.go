// Command seccompgen writes Docker's default seccomp profile compiled for
// Docker's default capabilities on this architecture, for hoist to embed
// (go generate ./engine/native/runtime writes it to
// engine/native/runtime/seccomp/generated/default.bin): compiling it costs
// every container start in a fresh hoist process 1.5-2.5 ms.
package main

import (
	"fmt"
	"os"

	"github.com/hoist-dev/hoist/engine/native/runtime/seccomp"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: seccompgen OUTPUT")
		os.Exit(2)
	}
	b, err := seccomp.DefaultBlob()
	if err == nil {
		err = os.WriteFile(os.Args[1], b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "seccompgen:", err)
		os.Exit(1)
	}
}
