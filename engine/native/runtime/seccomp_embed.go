//go:build !hoistinit

package runtime

import (
	"bytes"
	"encoding/binary"
	"fmt"
	goruntime "runtime"
	"strconv"
	"syscall"
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
	caps, err := Security{}.capabilities()
	if err != nil {
		return nil, err
	}
	p, err := compileDefaultSeccomp(caps)
	if err != nil {
		return nil, err
	}
	return encodeSeccompBlob(goruntime.GOARCH, caps, p), nil
}

func encodeSeccompBlob(goarch string, caps capSet, p *seccompProgram) []byte {
	b := fmt.Appendf(nil, "hoist-seccomp 1 %s %x\n", goarch, uint64(caps))
	for _, f := range p.filter {
		b = binary.NativeEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.NativeEndian.AppendUint32(b, f.K)
	}
	return b
}

// decodeSeccompBlob returns the program in blob when it was made for this
// architecture and caps, nil otherwise.
func decodeSeccompBlob(blob []byte, caps capSet) *seccompProgram {
	head, raw, ok := bytes.Cut(blob, []byte("\n"))
	f := bytes.Fields(head)
	if !ok || len(f) != 4 || string(f[0]) != "hoist-seccomp" || string(f[1]) != "1" || string(f[2]) != goruntime.GOARCH {
		return nil
	}
	if c, err := strconv.ParseUint(string(f[3]), 16, 64); err != nil || capSet(c) != caps {
		return nil
	}
	if len(raw) == 0 || len(raw)%8 != 0 || len(raw)/8 > 4096 {
		return nil
	}
	p := &seccompProgram{filter: make([]syscall.SockFilter, len(raw)/8)}
	for i := range p.filter {
		r := raw[8*i:]
		p.filter[i] = syscall.SockFilter{Code: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
	}
	return p
}

// embeddedSeccomp is the embedded program for caps, or nil.
func embeddedSeccomp(caps capSet) *seccompProgram {
	blob, err := initbinFS.ReadFile(seccompBlobFile)
	if err != nil {
		return nil
	}
	return decodeSeccompBlob(blob, caps)
}
