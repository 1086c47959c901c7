// Package seccomp is a container's seccomp filter. The program type and
// its installation (program.go) are used on both sides of the container
// boundary: the host sends the program in the init's configuration, and
// the init installs it on the thread that executes the command. Compiling
// Docker's default profile to that program (host_profile.go, with hoist's
// own BPF compiler, host_bpf.go) and the program for Docker's default
// capabilities compiled at build time (host_embed.go) are the host's
// alone: the hoistinit build tag leaves them, and the profile library they
// need, out of the init binary, which then does not even contain the
// compiler.
package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Program is a compiled seccomp filter (host_profile.go).
//
// The program is compiled by the process that starts the container (the
// runtime's Start, Exec), once per capability set in that process, and
// travels to the init in its configuration as JSON, so the init only
// installs it.
type Program struct {
	filter []syscall.SockFilter
}

// appendRaw appends the program's instructions as the kernel reads them:
// 8 bytes each, in native byte order.
func (p *Program) appendRaw(b []byte) []byte {
	for _, f := range p.filter {
		b = binary.NativeEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.NativeEndian.AppendUint32(b, f.K)
	}
	return b
}

// setRaw replaces the program with the instructions in raw (appendRaw's
// format).
func (p *Program) setRaw(raw []byte) error {
	if len(raw) == 0 || len(raw)%8 != 0 || len(raw)/8 > unix.BPF_MAXINSNS {
		return errors.New("seccomp program: bad length")
	}
	p.filter = make([]syscall.SockFilter, len(raw)/8)
	for i := range p.filter {
		r := raw[8*i:]
		p.filter[i] = syscall.SockFilter{Code: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
	}
	return nil
}

// MarshalJSON encodes the raw instructions (appendRaw), base64 in JSON.
func (p *Program) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.appendRaw(make([]byte, 0, 8*len(p.filter))))
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (p *Program) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	return p.setRaw(raw)
}

// Len is the number of the program's instructions.
func (p *Program) Len() int { return len(p.filter) }

// Install installs the filter on the calling thread only: that thread
// executes the command, and the other Go threads vanish at execve.
func (p *Program) Install() error {
	prog := unix.SockFprog{Len: uint16(len(p.filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&p.filter[0]))}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return fmt.Errorf("load seccomp filter: %w", e)
	}
	return nil
}
