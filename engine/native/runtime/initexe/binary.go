// Package initexe is what the native runtime's container-side roles (the
// container's init, the final step before the command, the exec helper)
// are executed from, on the host side only (the process that starts
// containers; the init binary never links it): the init binary that
// `go generate ./engine/native/runtime` builds from runtime/initshim and
// embeds here (initbin/), or hoist's own binary without it, and the two
// executables made from it: an immutable copy cached on the host
// (cache.go), shared by every hoist process and container, and a sealed
// memfd (memfd.go), private to the process that made it.
package initexe

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
)

//go:embed initbin
var initbinFS embed.FS

// Binary is one init binary and the executables made from it, each made
// once and kept open for every container the process starts.
type Binary struct {
	// Open opens the binary's content; nil means hoist's own binary.
	Open func() (io.ReadCloser, error)
	// Digest is the content's sha256, in hex, naming its immutable copy
	// (cache.go); empty, only memfds are used.
	Digest string

	memfd struct {
		sync.Mutex
		f *os.File
	}
	cached struct {
		sync.Mutex
		tried bool
		f     *os.File
	}
}

// Embedded is the init binary built by go generate, with its digest
// (written by go generate beside it), or hoist's own binary without it.
func Embedded() *Binary {
	return &Binary{Open: embeddedInit(), Digest: embeddedInitDigest()}
}

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

func embeddedInitDigest() string {
	b, err := initbinFS.ReadFile("initbin/hoist-init.sha256")
	d := strings.TrimSpace(string(b))
	if err != nil || len(d) != 64 || strings.Trim(d, "0123456789abcdef") != "" {
		return ""
	}
	return d
}

// Executable returns what the container-side roles of a container are
// executed from: the immutable cached copy (cached true) unless private
// is asked for (the container could undo the copy's immutability), the
// sealed memfd otherwise and whenever the cache cannot be used. The
// caller must not close it.
func (b *Binary) Executable(private bool) (f *os.File, cached bool, err error) {
	if !private {
		if f := b.cachedFile(); f != nil {
			return f, true, nil
		}
	}
	f, err = b.sealed()
	return f, false, err
}

// sealed returns the process's sealed memfd copy of the binary (see
// memfd.go), made once: sealed, it can serve every container this
// process starts.
func (b *Binary) sealed() (*os.File, error) {
	b.memfd.Lock()
	defer b.memfd.Unlock()
	if b.memfd.f != nil {
		return b.memfd.f, nil
	}
	var f *os.File
	var err error
	if b.Open != nil {
		var r io.ReadCloser
		if r, err = b.Open(); err == nil {
			f, err = sealedCopy(r)
			r.Close()
		}
	} else {
		f, err = sealedSelf()
	}
	if err != nil {
		return nil, fmt.Errorf("init binary: %w", err)
	}
	b.memfd.f = f
	return f, nil
}

// Close closes the executables made so far, for a process that stops
// using b (a test that runs containers with another init binary).
func (b *Binary) Close() {
	b.memfd.Lock()
	if b.memfd.f != nil {
		b.memfd.f.Close()
		b.memfd.f = nil
	}
	b.memfd.Unlock()
	b.cached.Lock()
	if b.cached.f != nil {
		b.cached.f.Close()
	}
	b.cached.f, b.cached.tried = nil, false
	b.cached.Unlock()
}
