package seccomp

import (
	"encoding/binary"
	"testing"

	profiles "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
)

// matches is the filter's meaning, for tests: the action for a call.
func (f *filter) matches(arch, nr uint32, args [6]uint64) uint32 {
	if arch != f.Arch {
		return f.Default
	}
	if f.X32 && nr >= x32SyscallBit {
		return unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	}
	for _, r := range f.Rules {
		if r.Nr != nr {
			continue
		}
		if len(r.Sets) == 0 {
			return r.Action
		}
		for _, set := range r.Sets {
			ok := true
			for _, t := range set {
				v := args[t.Index]
				switch t.Op {
				case opEQ:
					ok = ok && v == t.Value
				case opNE:
					ok = ok && v != t.Value
				case opLT:
					ok = ok && v < t.Value
				case opLE:
					ok = ok && v <= t.Value
				case opGT:
					ok = ok && v > t.Value
				case opGE:
					ok = ok && v >= t.Value
				case opMaskedEQ:
					ok = ok && v&t.Mask == t.Value
				}
			}
			if ok {
				return r.Action
			}
		}
	}
	return f.Default
}

// vm runs a compiled program in x/net/bpf's interpreter. It loads words
// big-endian, where the kernel loads seccomp_data in native (little)
// endian, so the input is written word by word to read the same.
type vm struct {
	t  *testing.T
	vm *bpf.VM
}

func newVM(t *testing.T, p *Program) vm {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(p.filter))
	for i, f := range p.filter {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insts, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	m, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	return vm{t: t, vm: m}
}

func (v vm) run(arch, nr uint32, args [6]uint64) uint32 {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[20+8*i:], uint32(a>>32))
	}
	r, err := v.vm.Run(b)
	if err != nil {
		v.t.Fatal(err)
	}
	return uint32(r)
}

// interesting are argument values around every value the filter tests,
// with the high word set to small numbers too: a compiler that compared
// later syscall numbers with an argument word would be caught by them.
func interesting(f *filter) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	add := func(v uint64) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, v := range []uint64{0, 1, 2, 0xffffffff, 1 << 32, 1<<64 - 1, 1 << 63} {
		add(v)
	}
	for _, r := range f.Rules {
		for _, set := range r.Sets {
			for _, t := range set {
				for _, base := range []uint64{t.Value, t.Value | t.Mask, t.Value &^ t.Mask, t.Mask} {
					for _, d := range []uint64{0, 1, 1<<64 - 1} {
						add(base + d)
					}
					for _, hi := range []uint64{1, 2, 56, 59, 0xffffffff} {
						add(uint64(uint32(base)) | hi<<32)
					}
				}
			}
		}
	}
	for _, r := range f.Rules {
		add(uint64(r.Nr) << 32)
	}
	return out
}

func checkAgainstMeaning(t *testing.T, f *filter) {
	t.Helper()
	p, err := f.compile()
	if err != nil {
		t.Fatal(err)
	}
	m := newVM(t, p)
	vals := interesting(f)
	nrs := map[uint32]bool{x32SyscallBit: true, x32SyscallBit + 1: true, 1<<32 - 1: true}
	for nr := uint32(0); nr < 500; nr++ {
		nrs[nr] = true
	}
	idxs := map[int]bool{0: true}
	for _, r := range f.Rules {
		for _, set := range r.Sets {
			for _, t := range set {
				idxs[t.Index] = true
			}
		}
	}
	bad := 0
	for nr := range nrs {
		for _, arch := range []uint32{f.Arch, 0x40000003} {
			for idx := range idxs {
				for _, v := range vals {
					if arch != f.Arch && v > 2 {
						continue // another ABI gets the default whatever it asks
					}
					var args [6]uint64
					args[idx] = v
					if got, want := m.run(arch, nr, args), f.matches(arch, nr, args); got != want {
						if bad++; bad < 10 {
							t.Errorf("arch %#x nr %d arg%d=%#x: program gives %#x, the filter means %#x", arch, nr, idx, v, got, want)
						}
					}
				}
			}
		}
	}
}

// Docker's default profile, compiled for the default capabilities and for
// all of them: the program does what the rules say, for every syscall
// number and argument values at and around each rule's.
func TestSeccompProgramMeansTheProfile(t *testing.T) {
	for _, names := range [][]string{caps.Default(), {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_BPF", "CAP_PERFMON"}} {
		rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: names}}}
		prof, err := profiles.GetDefaultProfile(rs)
		if err != nil {
			t.Fatal(err)
		}
		f, err := translate(prof)
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstMeaning(t, f)
	}
}

// Every comparison, alone and combined, with values that differ only in
// the high or the low word.
func TestSeccompComparisons(t *testing.T) {
	const allow, deny = unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ERRNO | 1
	var rules []syscallRule
	vals := []uint64{0, 5, 1<<32 | 5, 0xffffffff, 1<<64 - 1}
	nr := uint32(10)
	for op := opEQ; op <= opMaskedEQ; op++ {
		for _, v := range vals {
			rules = append(rules, syscallRule{Nr: nr, Action: allow, Sets: [][]argTest{{{Index: int(nr) % 6, Op: op, Value: v & 0xf0000000f, Mask: 0xf0000000f}}}})
			rules = append(rules, syscallRule{Nr: nr, Action: deny, Sets: [][]argTest{{{Index: 1, Op: op, Value: v}, {Index: 2, Op: opNE, Value: v}}, {{Index: 3, Op: op, Value: v}}}})
			nr++
		}
	}
	rules = append(rules, syscallRule{Nr: 3, Action: allow}, syscallRule{Nr: 4, Action: allow})
	checkAgainstMeaning(t, &filter{Arch: auditArchX86_64, X32: true, Default: deny, Rules: rules})
}

// Long runs of unconditional syscalls are split so that every jump fits.
func TestSeccompLongRun(t *testing.T) {
	var rules []syscallRule
	for nr := uint32(0); nr < 450; nr += 1 {
		rules = append(rules, syscallRule{Nr: nr, Action: unix.SECCOMP_RET_ALLOW})
	}
	checkAgainstMeaning(t, &filter{Arch: auditArchX86_64, X32: true, Default: unix.SECCOMP_RET_ERRNO | 1, Rules: rules})
}
