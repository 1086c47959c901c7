//go:build !hoistinit

package runtime

import (
	"io"
	"os"

	"github.com/hoist-dev/hoist/engine/native/runtime/stdio"
)

// Handover marks a file made for one container alone, given to it as one
// of its standard streams as it is; every other stream crosses through a
// pipe the runtime copies (see stdio.Handover).
type Handover = stdio.Handover

// ServeConsole copies stdin into a container's terminal (the pty master
// console) and its output to stdout, and applies each size of resize
// (stdio.ServeConsole). The returned drain, called once the process on
// the terminal exited, takes the output still in the terminal and closes
// console.
func ServeConsole(console *os.File, stdin io.Reader, stdout io.Writer, resize <-chan WinSize) (drain func()) {
	return stdio.ServeConsole(console, stdin, stdout, resize)
}
