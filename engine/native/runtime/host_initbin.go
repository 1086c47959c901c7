//go:build !hoistinit

package runtime

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
)

//go:generate env CGO_ENABLED=0 go build -tags hoistinit -trimpath -buildvcs=false "-ldflags=-s -w" -o initbin/hoist-init ./initshim
//go:generate sh -c "sha256sum initbin/hoist-init | cut -c1-64 > initbin/hoist-init.sha256"
//go:generate go run ./seccomp/seccompgen seccomp/generated/default.bin

//go:embed initbin
var initbinFS embed.FS

// embeddedInit opens the init binary built by go generate; nil without
// it. The file is read straight from the executable's read-only data: a
// copy on the heap (embed.FS.ReadFile) would cost every hoist process
// 2.6 MB and a millisecond at startup.
func embeddedInit() func() (io.ReadCloser, error) {
	const name = "initbin/hoist-init"
	if fi, err := fs.Stat(initbinFS, name); err != nil || fi.Size() == 0 {
		return nil
	}
	return func() (io.ReadCloser, error) { return initbinFS.Open(name) }
}

// initImage opens what the container-side roles run from: the embedded
// init binary, or nil for hoist's own binary. Tests swap it.
var initImage = embeddedInit()

// initDigest is the embedded init binary's sha256 (written by go generate
// beside it), naming its immutable copy (host_initcache.go); empty without
// one, and then only memfds are used. Tests that swap initImage clear it.
var initDigest = embeddedInitDigest()

func embeddedInitDigest() string {
	b, err := initbinFS.ReadFile("initbin/hoist-init.sha256")
	d := strings.TrimSpace(string(b))
	if err != nil || len(d) != 64 || strings.Trim(d, "0123456789abcdef") != "" {
		return ""
	}
	return d
}

// initExec is the process's sealed copy of the init binary, made once:
// sealed, it can serve every container this process starts.
var initExec struct {
	sync.Mutex
	f *os.File
}

// initExecutable returns the sealed memfd that the init, final and exec
// helper roles are executed from (see host_memfd.go). The caller must not close
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
		var r io.ReadCloser
		if r, err = initImage(); err == nil {
			f, err = sealedCopy(r)
			r.Close()
		}
	} else {
		f, err = sealedSelf()
	}
	if err != nil {
		return nil, fmt.Errorf("init binary: %w", err)
	}
	initExec.f = f
	return f, nil
}
