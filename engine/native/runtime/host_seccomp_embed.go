//go:build !hoistinit

package runtime

import (
	"bytes"
	"fmt"
	goruntime "runtime"
	"strconv"

	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
)

// The default profile for Docker's default capabilities, the program almost
// every container gets, is compiled at build time (seccompgen, run by go
// generate) and embedded beside the init binary; seccompFor uses it when
// the container's capability set is exactly that one. The blob is
//
//	hoist-seccomp 1 <GOARCH> <capability set, hex>\n<instructions>
//
// with the instructions as the kernel reads them (8 bytes each, native
// byte order), so a blob made for another architecture or set is ignored.
const seccompBlobFile = "initbin/seccomp-default.bin"

// DefaultSeccompBlob compiles the blob described above; for seccompgen.
func DefaultSeccompBlob() ([]byte, error) {
	set, err := Security{}.capabilities()
	if err != nil {
		return nil, err
	}
	p, err := compileDefaultSeccomp(set)
	if err != nil {
		return nil, err
	}
	return encodeSeccompBlob(goruntime.GOARCH, set, p), nil
}

func encodeSeccompBlob(goarch string, set caps.Set, p *seccompProgram) []byte {
	return p.appendRaw(fmt.Appendf(nil, "hoist-seccomp 1 %s %x\n", goarch, uint64(set)))
}

// decodeSeccompBlob returns the program in blob when it was made for this
// architecture and set, nil otherwise.
func decodeSeccompBlob(blob []byte, set caps.Set) *seccompProgram {
	head, raw, ok := bytes.Cut(blob, []byte("\n"))
	f := bytes.Fields(head)
	if !ok || len(f) != 4 || string(f[0]) != "hoist-seccomp" || string(f[1]) != "1" || string(f[2]) != goruntime.GOARCH {
		return nil
	}
	if c, err := strconv.ParseUint(string(f[3]), 16, 64); err != nil || caps.Set(c) != set {
		return nil
	}
	p := &seccompProgram{}
	if p.setRaw(raw) != nil {
		return nil
	}
	return p
}

// embeddedSeccomp is the embedded program for set, or nil.
func embeddedSeccomp(set caps.Set) *seccompProgram {
	blob, err := initbinFS.ReadFile(seccompBlobFile)
	if err != nil {
		return nil
	}
	return decodeSeccompBlob(blob, set)
}
