//go:build !hoistinit

package seccomp

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// hoist compiles seccomp filters itself, to classic BPF over struct
// seccomp_data (nr, arch, instruction pointer, six 64-bit arguments). The
// program checks the architecture, loads the syscall number, and tries the
// rules in order; the first that matches returns its action, and the
// default action ends the program.
//
// One invariant carries the correctness of the whole program: the
// accumulator holds the syscall number at the start of every rule. A
// rule's argument tests load argument words into it, so a rule whose
// arguments do not match reloads the number before the next rule. (A
// compiler that forgets this compares later syscall numbers against an
// argument word the caller chose: with go-seccomp-bpf, socket(AF_VSOCK)
// with a high word of 56 in its domain passed the filter, and
// personality allowed only its first value.)

// argOp is a comparison of a 64-bit argument with a value.
type argOp int

const (
	opEQ argOp = iota
	opNE
	opLT
	opLE
	opGT
	opGE
	opMaskedEQ // (arg & Mask) == Value
)

// argTest is one comparison of argument Index (0 to 5).
type argTest struct {
	Index int
	Op    argOp
	Value uint64
	Mask  uint64
}

// syscallRule returns Action for syscall Nr when its arguments pass every
// test of at least one of Sets; with no Sets, always.
type syscallRule struct {
	Nr     uint32
	Action uint32
	Sets   [][]argTest
}

// filter is a whole filter: only Arch is allowed (other ABIs get
// Default), the x32 ABI gets ENOSYS when X32 is set.
type filter struct {
	Arch    uint32
	X32     bool
	Default uint32
	Rules   []syscallRule
}

const (
	auditArchX86_64 = 0xc000003e // AUDIT_ARCH_X86_64
	x32SyscallBit   = 0x40000000 // __X32_SYSCALL_BIT

	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArgs = 16

	// At most this many syscalls share one return instruction: a
	// conditional jump reaches 255 instructions.
	maxChunk = 200
)

// bpfLabel names an instruction; resolved to an offset once all are placed.
type bpfLabel int

// next is the label of the instruction that follows: a jump of 0.
const next bpfLabel = -1

type bpfInstr struct {
	code   uint16
	k      uint32
	jt, jf bpfLabel // for conditional jumps
	ja     bpfLabel // for BPF_JA
}

type bpfAsm struct {
	prog   []bpfInstr
	labels []int // label -> instruction index
}

func (a *bpfAsm) label() bpfLabel {
	a.labels = append(a.labels, -1)
	return bpfLabel(len(a.labels) - 1)
}

// here places l at the next instruction.
func (a *bpfAsm) here(l bpfLabel) { a.labels[l] = len(a.prog) }

func (a *bpfAsm) ld(off uint32) {
	a.prog = append(a.prog, bpfInstr{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off})
}

func (a *bpfAsm) and(k uint32) {
	a.prog = append(a.prog, bpfInstr{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, k: k})
}

func (a *bpfAsm) jmp(op uint16, k uint32, jt, jf bpfLabel) {
	a.prog = append(a.prog, bpfInstr{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
}

func (a *bpfAsm) ja(to bpfLabel) {
	a.prog = append(a.prog, bpfInstr{code: unix.BPF_JMP | unix.BPF_JA, ja: to})
}

func (a *bpfAsm) ret(k uint32) {
	a.prog = append(a.prog, bpfInstr{code: unix.BPF_RET | unix.BPF_K, k: k})
}

// assemble resolves the labels.
func (a *bpfAsm) assemble() ([]syscall.SockFilter, error) {
	if len(a.prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp program: %d instructions, more than the kernel takes", len(a.prog))
	}
	out := make([]syscall.SockFilter, len(a.prog))
	off := func(i int, l bpfLabel, max int) (int, error) {
		if l == next {
			return 0, nil
		}
		t := a.labels[l]
		if t < 0 {
			return 0, fmt.Errorf("seccomp program: label %d not placed", l)
		}
		d := t - (i + 1)
		if d < 0 || d > max {
			return 0, fmt.Errorf("seccomp program: jump of %d at %d", d, i)
		}
		return d, nil
	}
	for i, in := range a.prog {
		f := syscall.SockFilter{Code: in.code, K: in.k}
		switch {
		case in.code == unix.BPF_JMP|unix.BPF_JA:
			d, err := off(i, in.ja, 1<<31)
			if err != nil {
				return nil, err
			}
			f.K = uint32(d)
		case in.code&0x07 == unix.BPF_JMP:
			jt, err := off(i, in.jt, 255)
			if err != nil {
				return nil, err
			}
			jf, err := off(i, in.jf, 255)
			if err != nil {
				return nil, err
			}
			f.Jt, f.Jf = uint8(jt), uint8(jf)
		}
		out[i] = f
	}
	return out, nil
}

// compile turns f into a program.
func (f *filter) compile() (*Program, error) {
	a := &bpfAsm{}
	a.ld(seccompDataArch)
	a.jmp(unix.BPF_JEQ, f.Arch, a.labelAfter(1), next)
	a.ret(f.Default)
	a.ld(seccompDataNr)
	if f.X32 {
		a.jmp(unix.BPF_JGE, x32SyscallBit, next, a.labelAfter(1))
		a.ret(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	}
	for i := 0; i < len(f.Rules); {
		r := f.Rules[i]
		if len(r.Sets) > 0 {
			f.compileConditional(a, r)
			i++
			continue
		}
		// A run of unconditional rules with one action shares a return.
		j := i
		for j < len(f.Rules) && j-i < maxChunk && len(f.Rules[j].Sets) == 0 && f.Rules[j].Action == r.Action {
			j++
		}
		match, skip := a.label(), a.label()
		for _, rr := range f.Rules[i:j] {
			a.jmp(unix.BPF_JEQ, rr.Nr, match, next)
		}
		a.ja(skip)
		a.here(match)
		a.ret(r.Action)
		a.here(skip)
		i = j
	}
	a.ret(f.Default)
	insns, err := a.assemble()
	if err != nil {
		return nil, err
	}
	return &Program{filter: insns}, nil
}

// labelAfter is a label placed n instructions after the next one: the
// jump over a short fixed sequence.
func (a *bpfAsm) labelAfter(n int) bpfLabel {
	l := a.label()
	a.labels[l] = len(a.prog) + 1 + n
	return l
}

// compileConditional: when the number matches, each set of tests is tried
// in turn and the first that passes returns the action; when none does,
// the number is loaded again for the rules that follow.
func (f *filter) compileConditional(a *bpfAsm, r syscallRule) {
	other, reload := a.label(), a.label()
	a.jmp(unix.BPF_JEQ, r.Nr, next, other)
	for i, set := range r.Sets {
		fail := reload
		if i < len(r.Sets)-1 {
			fail = a.label()
		}
		for _, t := range set {
			compileTest(a, t, fail)
		}
		a.ret(r.Action)
		if fail != reload {
			a.here(fail)
		}
	}
	a.here(reload)
	a.ld(seccompDataNr)
	a.here(other)
}

// compileTest falls through when argument t.Index passes t and jumps to
// fail otherwise. Each 64-bit argument is two 32-bit words, the low one
// first (little endian, the only byte order hoist builds for).
func compileTest(a *bpfAsm, t argTest, fail bpfLabel) {
	lo := uint32(seccompDataArgs + 8*t.Index)
	hi := lo + 4
	vhi, vlo := uint32(t.Value>>32), uint32(t.Value)
	pass := a.label()
	switch t.Op {
	case opEQ:
		a.ld(hi)
		a.jmp(unix.BPF_JEQ, vhi, next, fail)
		a.ld(lo)
		a.jmp(unix.BPF_JEQ, vlo, next, fail)
	case opNE:
		a.ld(hi)
		a.jmp(unix.BPF_JEQ, vhi, next, pass)
		a.ld(lo)
		a.jmp(unix.BPF_JEQ, vlo, fail, next)
	case opGT, opGE:
		a.ld(hi)
		a.jmp(unix.BPF_JGT, vhi, pass, next)
		a.jmp(unix.BPF_JEQ, vhi, next, fail)
		a.ld(lo)
		op := uint16(unix.BPF_JGT)
		if t.Op == opGE {
			op = unix.BPF_JGE
		}
		a.jmp(op, vlo, next, fail)
	case opLT, opLE:
		a.ld(hi)
		a.jmp(unix.BPF_JGE, vhi, next, pass) // hi < vhi: less
		a.jmp(unix.BPF_JGT, vhi, fail, next) // hi > vhi: greater
		a.ld(lo)
		op := uint16(unix.BPF_JGE) // lo >= vlo fails LT
		if t.Op == opLE {
			op = unix.BPF_JGT // lo > vlo fails LE
		}
		a.jmp(op, vlo, fail, next)
	case opMaskedEQ:
		a.ld(hi)
		a.and(uint32(t.Mask >> 32))
		a.jmp(unix.BPF_JEQ, vhi, next, fail)
		a.ld(lo)
		a.and(uint32(t.Mask))
		a.jmp(unix.BPF_JEQ, vlo, next, fail)
	}
	a.here(pass)
}
