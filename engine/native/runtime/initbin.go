//go:build !hoistinit

package runtime

import (
	"embed"
	"fmt"
	"os"
	"sync"
)

//go:generate env CGO_ENABLED=0 go build -tags hoistinit -trimpath -buildvcs=false "-ldflags=-s -w" -o initbin/hoist-init ./initshim

//go:embed initbin
var initbinFS embed.FS

// embeddedInit is the init binary built by go generate, nil without it.
func embeddedInit() []byte {
	b, err := initbinFS.ReadFile("initbin/hoist-init")
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}

// initImage is what the container-side roles run from: the embedded init
// binary, or nil for hoist's own binary. Tests swap it.
var initImage = embeddedInit()

// initExec is the process's sealed copy of the init binary, made once:
// sealed, it can serve every container this process starts.
var initExec struct {
	sync.Mutex
	f *os.File
}

// initExecutable returns the sealed memfd that the init, final and exec
// helper roles are executed from (see memfd.go). The caller must not close
// it.
func initExecutable() (*os.File, error) {
	initExec.Lock()
	defer initExec.Unlock()
	if initExec.f != nil {
		return initExec.f, nil
	}
	var f *os.File
	var err error
	if initImage != nil {
		f, err = sealedBytes(initImage)
	} else {
		f, err = sealedSelf()
	}
	if err != nil {
		return nil, fmt.Errorf("init binary: %w", err)
	}
	initExec.f = f
	return f, nil
}
