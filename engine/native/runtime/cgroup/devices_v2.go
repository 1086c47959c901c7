package cgroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/internal/devicerule"
)

// On cgroup v2 there is no devices controller: a BPF_PROG_TYPE_CGROUP_DEVICE
// program attached to the container's cgroup decides each access, as runc
// does it. The program is the rule list compiled to straight-line code:
// each rule tests the device type, the access asked for, the major and the
// minor, and returns 1 (allow) on a match; falling off the end returns 0
// (deny). It is a few instructions per rule, built here with no BPF
// library (a library would weigh on every hoist start, run --rm's fast
// path included).

// The program's context, struct bpf_cgroup_dev_ctx: access_type (the
// access in the high 16 bits, the device type in the low ones), major,
// minor; all u32.
const (
	devCtxAccessType = 0
	devCtxMajor      = 4
	devCtxMinor      = 8

	bpfDevBlock = 1 // BPF_DEVCG_DEV_BLOCK
	bpfDevChar  = 2 // BPF_DEVCG_DEV_CHAR
	bpfAccMknod = 1 // BPF_DEVCG_ACC_MKNOD
	bpfAccRead  = 2 // BPF_DEVCG_ACC_READ
	bpfAccWrite = 4 // BPF_DEVCG_ACC_WRITE
)

// BPF instruction opcodes used here (linux/bpf.h, linux/bpf_common.h).
const (
	opLdxMemW   = 0x61 // BPF_LDX | BPF_MEM | BPF_W
	opMov64Reg  = 0xbf // BPF_ALU64 | BPF_MOV | BPF_X
	opMov64Imm  = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
	opAnd32Imm  = 0x54 // BPF_ALU | BPF_AND | BPF_K
	opRsh32Imm  = 0x74 // BPF_ALU | BPF_RSH | BPF_K
	opJne32Imm  = 0x56 // BPF_JMP32 | BPF_JNE | BPF_K: compares the low 32 bits, so majors above 2^31 work
	opExit      = 0x95 // BPF_JMP | BPF_EXIT
	regCtx      = 1
	regType     = 2
	regAccess   = 3
	regMajor    = 4
	regMinor    = 5
	regScratch  = 6
	regReturn   = 0
	bpfInsnSize = 8
)

// bpfInsn is struct bpf_insn.
type bpfInsn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int32
}

func (i bpfInsn) encode(b []byte) {
	b[0] = i.op
	b[1] = i.dst&0xf | i.src<<4
	binary.LittleEndian.PutUint16(b[2:], uint16(i.off))
	binary.LittleEndian.PutUint32(b[4:], uint32(i.imm))
}

// deviceFilter compiles rules (an allow list) to the program's
// instructions.
func deviceFilter(rules []devicerule.Rule) ([]bpfInsn, error) {
	prog := []bpfInsn{
		{op: opLdxMemW, dst: regType, src: regCtx, off: devCtxAccessType},
		{op: opMov64Reg, dst: regAccess, src: regType},
		{op: opAnd32Imm, dst: regType, imm: 0xffff},
		{op: opRsh32Imm, dst: regAccess, imm: 16},
		{op: opLdxMemW, dst: regMajor, src: regCtx, off: devCtxMajor},
		{op: opLdxMemW, dst: regMinor, src: regCtx, off: devCtxMinor},
	}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, err
		}
		var tests []bpfInsn // each jumps past this rule's end when it fails
		switch r.Type {
		case 'b':
			tests = append(tests, bpfInsn{op: opJne32Imm, dst: regType, imm: bpfDevBlock})
		case 'c':
			tests = append(tests, bpfInsn{op: opJne32Imm, dst: regType, imm: bpfDevChar})
		}
		if mask := accessBits("rwm") &^ accessBits(r.Access); mask != 0 {
			// Asked for anything outside the rule's access: no match.
			tests = append(tests,
				bpfInsn{op: opMov64Reg, dst: regScratch, src: regAccess},
				bpfInsn{op: opAnd32Imm, dst: regScratch, imm: mask},
				bpfInsn{op: opJne32Imm, dst: regScratch, imm: 0})
		}
		if r.Type != 'a' && r.Major != devicerule.Any {
			tests = append(tests, bpfInsn{op: opJne32Imm, dst: regMajor, imm: int32(uint32(r.Major))})
		}
		if r.Type != 'a' && r.Minor != devicerule.Any {
			tests = append(tests, bpfInsn{op: opJne32Imm, dst: regMinor, imm: int32(uint32(r.Minor))})
		}
		allow := []bpfInsn{{op: opMov64Imm, dst: regReturn, imm: 1}, {op: opExit}}
		for i := range tests {
			if tests[i].op == opJne32Imm {
				// Past the remaining tests and the allow.
				tests[i].off = int16(len(tests) - 1 - i + len(allow))
			}
		}
		prog = append(append(prog, tests...), allow...)
	}
	return append(prog, bpfInsn{op: opMov64Imm, dst: regReturn, imm: 0}, bpfInsn{op: opExit}), nil
}

func accessBits(a string) int32 {
	var bits int32
	for _, c := range a {
		switch c {
		case 'r':
			bits |= bpfAccRead
		case 'w':
			bits |= bpfAccWrite
		case 'm':
			bits |= bpfAccMknod
		}
	}
	return bits
}

// bpfProgLoadAttr is the BPF_PROG_LOAD part of union bpf_attr, up to
// expected_attach_type.
type bpfProgLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [16]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// bpfProgAttachAttr is the BPF_PROG_ATTACH part of union bpf_attr.
type bpfProgAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

const bpfFAllowMulti = 2 // BPF_F_ALLOW_MULTI

// attachDeviceFilter limits the processes of the cgroup v2 directory dir
// to rules. A privileged container's single rule allows everything, so
// nothing is attached (its parent's limits, if any, stay).
func attachDeviceFilter(dir string, rules []devicerule.Rule) error {
	if len(rules) == 1 && rules[0] == devicerule.All() {
		return nil
	}
	insns, err := deviceFilter(rules)
	if err != nil {
		return err
	}
	prog, err := loadDeviceProgram(insns)
	if err != nil {
		return fmt.Errorf("device rules: load the cgroup v2 device program (hoist will not start a container that could open every host device): %w", err)
	}
	defer unix.Close(prog)
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("device rules: %w", err)
	}
	defer unix.Close(cg)
	attr := bpfProgAttachAttr{targetFd: uint32(cg), attachBpfFd: uint32(prog), attachType: unix.BPF_CGROUP_DEVICE, attachFlags: bpfFAllowMulti}
	if _, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr)); errno != 0 {
		return fmt.Errorf("device rules: attach the cgroup v2 device program to %s: %w", dir, errno)
	}
	return nil
}

// loadDeviceProgram loads insns as a cgroup device program and returns
// its file descriptor; on failure the verifier's log is in the error.
func loadDeviceProgram(insns []bpfInsn) (int, error) {
	code := make([]byte, len(insns)*bpfInsnSize)
	for i, in := range insns {
		in.encode(code[i*bpfInsnSize:])
	}
	license := []byte("Apache\x00")
	load := func(log []byte) (int, error) {
		attr := bpfProgLoadAttr{
			progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
			insnCnt:  uint32(len(insns)),
			insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
			license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		}
		copy(attr.progName[:], "hoist_devices")
		if log != nil {
			attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), uint64(uintptr(unsafe.Pointer(&log[0])))
		}
		fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(code)
		runtime.KeepAlive(license)
		runtime.KeepAlive(log)
		if errno != 0 {
			return -1, errno
		}
		unix.CloseOnExec(int(fd))
		return int(fd), nil
	}
	fd, err := load(nil)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
		return -1, fmt.Errorf("%w (needs CAP_BPF or CAP_SYS_ADMIN and a kernel with cgroup BPF)", err)
	}
	log := make([]byte, 64<<10)
	if _, lerr := load(log); lerr != nil {
		n := 0
		for n < len(log) && log[n] != 0 {
			n++
		}
		return -1, fmt.Errorf("%w: verifier: %s", err, log[:n])
	}
	return -1, err
}

// v2DeviceFilterAvailable reports whether this kernel loads the program,
// for tests and a clear early error.
func v2DeviceFilterAvailable() error {
	insns, _ := deviceFilter(devicerule.Defaults())
	fd, err := loadDeviceProgram(insns)
	if err != nil {
		return err
	}
	return os.NewFile(uintptr(fd), "bpf-prog").Close()
}
