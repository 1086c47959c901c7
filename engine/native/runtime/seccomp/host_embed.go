//go:build !hoistinit

package seccomp

import (
	"bytes"
	"embed"
	"fmt"
	"runtime"
	"strconv"

	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
)

// The default profile for Docker's default capabilities, the program almost
// every container gets, is compiled at build time (seccompgen, run by
// `go generate ./engine/native/runtime`) into generated/default.bin and
// embedded; Default uses it when the container's capability set is
// exactly that one. The blob is
//
//	hoist-seccomp 1 <GOARCH> <capability set, hex>\n<instructions>
//
// with the instructions as the kernel reads them (8 bytes each, native
// byte order), so a blob made for another architecture or set is ignored.
const blobFile = "generated/default.bin"

// generated holds what go generate made (nothing but its README without
// it: the program is then compiled at each start, which works the same).
//
//go:embed generated
var generated embed.FS

// DefaultBlob compiles the blob described above; for seccompgen.
func DefaultBlob() ([]byte, error) {
	set, err := caps.For(false, nil, nil)
	if err != nil {
		return nil, err
	}
	p, err := compileDefault(set)
	if err != nil {
		return nil, err
	}
	return encodeBlob(runtime.GOARCH, set, p), nil
}

func encodeBlob(goarch string, set caps.Set, p *Program) []byte {
	return p.appendRaw(fmt.Appendf(nil, "hoist-seccomp 1 %s %x\n", goarch, uint64(set)))
}

// decodeBlob returns the program in blob when it was made for this
// architecture and set, nil otherwise.
func decodeBlob(blob []byte, set caps.Set) *Program {
	head, raw, ok := bytes.Cut(blob, []byte("\n"))
	f := bytes.Fields(head)
	if !ok || len(f) != 4 || string(f[0]) != "hoist-seccomp" || string(f[1]) != "1" || string(f[2]) != runtime.GOARCH {
		return nil
	}
	if c, err := strconv.ParseUint(string(f[3]), 16, 64); err != nil || caps.Set(c) != set {
		return nil
	}
	p := &Program{}
	if p.setRaw(raw) != nil {
		return nil
	}
	return p
}

// embedded is the embedded program for set, or nil.
func embedded(set caps.Set) *Program {
	blob, err := generated.ReadFile(blobFile)
	if err != nil {
		return nil
	}
	return decodeBlob(blob, set)
}
