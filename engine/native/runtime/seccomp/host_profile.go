//go:build !hoistinit

package seccomp

import (
	"fmt"
	"sync"

	"github.com/elastic/go-seccomp-bpf/arch"
	profiles "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
)

// Docker's default seccomp profile is compiled to classic BPF here, by
// hoist's own compiler (host_bpf.go); go-seccomp-bpf's syscall table
// gives the numbers.
//
// Exact: conditional rules on capabilities, architecture and kernel version
// are resolved by moby's own setup code for the container's final bounding
// set, so e.g. clone with namespace flags is allowed only with CAP_SYS_ADMIN.
// Names, the allow and errno actions (with their errno values) and every
// comparison (EQ, NE, LT, LE, GT, GE, MASKED_EQ) on 64-bit arguments are
// translated; each rule is kept, so a syscall with several rules (such as
// personality, allowed for five values) is allowed by any of them.
// Arguments on one index within a rule are OR-ed and different indices
// AND-ed, as runc does.
//
// Approximated:
//   - Only the native architecture is allowed; syscalls through the x32 ABI
//     fail with ENOSYS and through other ABIs (i386 int 0x80) with EPERM,
//     where Docker allows x86 and x32. 32-bit binaries do not run.
//   - Names unknown to the syscall table for this architecture are skipped
//     (libseccomp skips names it does not know too).
//   - Rules are tried in order with errno rules first; the profile never
//     gives one syscall two overlapping rules with different actions, so the
//     order only matters for custom profiles.
//
// The program is compiled by the process that starts the container (the
// runtime's Start, Exec), once per capability set in that process (the one
// for Docker's default set is compiled at build time, see host_embed.go),
// and travels to the init in its configuration, so the init only installs
// it.

// cache holds the programs this process compiled (or took from the
// embedded one), by capability set.
var cache struct {
	sync.Mutex
	progs map[caps.Set]*Program
}

// Default returns the program of Docker's default profile for a process
// whose bounding set is set: the embedded one when it was compiled for
// set, else compiled once in this process.
func Default(set caps.Set) (*Program, error) {
	cache.Lock()
	defer cache.Unlock()
	if p, ok := cache.progs[set]; ok {
		return p, nil
	}
	p := embedded(set)
	if p == nil {
		var err error
		if p, err = compileDefault(set); err != nil {
			return nil, err
		}
	}
	if cache.progs == nil {
		cache.progs = map[caps.Set]*Program{}
	}
	cache.progs[set] = p
	return p, nil
}

// compileDefault compiles Docker's default profile for a container whose
// bounding set is set.
func compileDefault(set caps.Set) (*Program, error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: set.Names()}}}
	prof, err := profiles.GetDefaultProfile(rs)
	if err != nil {
		return nil, fmt.Errorf("seccomp default profile: %w", err)
	}
	f, err := translate(prof)
	if err != nil {
		return nil, err
	}
	return f.compile()
}

func translateAction(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	switch act {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		errno := uint(unix.EPERM)
		if errnoRet != nil {
			errno = *errnoRet
		}
		return unix.SECCOMP_RET_ERRNO | uint32(errno&unix.SECCOMP_RET_DATA), nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	}
	return 0, fmt.Errorf("seccomp action %q is not supported", act)
}

func translateOp(a specs.LinuxSeccompArg) (argTest, error) {
	t := argTest{Index: int(a.Index), Value: a.Value}
	switch a.Op {
	case specs.OpEqualTo:
		t.Op = opEQ
	case specs.OpNotEqual:
		t.Op = opNE
	case specs.OpLessThan:
		t.Op = opLT
	case specs.OpLessEqual:
		t.Op = opLE
	case specs.OpGreaterThan:
		t.Op = opGT
	case specs.OpGreaterEqual:
		t.Op = opGE
	case specs.OpMaskedEqual:
		// libseccomp's SCMP_CMP_MASKED_EQ: (arg & Value) == ValueTwo.
		t.Op, t.Mask, t.Value = opMaskedEQ, a.Value, a.ValueTwo
	default:
		return t, fmt.Errorf("seccomp argument operator %q is not supported", a.Op)
	}
	if a.Index > 5 {
		return t, fmt.Errorf("seccomp argument index %d", a.Index)
	}
	return t, nil
}

// conditionSets expands a rule's arguments: one index with several tests
// is an OR, different indices an AND.
func conditionSets(args []specs.LinuxSeccompArg) ([][]argTest, error) {
	byIndex := map[uint][]argTest{}
	var order []uint
	for _, a := range args {
		c, err := translateOp(a)
		if err != nil {
			return nil, err
		}
		if _, seen := byIndex[a.Index]; !seen {
			order = append(order, a.Index)
		}
		byIndex[a.Index] = append(byIndex[a.Index], c)
	}
	sets := [][]argTest{nil}
	for _, idx := range order {
		var next [][]argTest
		for _, s := range sets {
			for _, c := range byIndex[idx] {
				next = append(next, append(append([]argTest{}, s...), c))
			}
		}
		sets = next
	}
	return sets, nil
}

// translate turns prof into the filter's rules, errno rules first.
func translate(prof *specs.LinuxSeccomp) (*filter, error) {
	def, err := translateAction(prof.DefaultAction, prof.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp architecture: %w", err)
	}
	f := &filter{Arch: uint32(info.ID), X32: uint32(info.ID) == auditArchX86_64, Default: def}
	var errnoRules, otherRules []syscallRule
	for _, rule := range prof.Syscalls {
		act, err := translateAction(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, err
		}
		if act == def {
			continue
		}
		sets, err := conditionSets(rule.Args)
		if err != nil {
			return nil, err
		}
		if len(rule.Args) == 0 {
			sets = nil
		}
		for _, name := range rule.Names {
			nr, ok := info.SyscallNames[name]
			if !ok {
				continue
			}
			r := syscallRule{Nr: uint32(nr), Action: act, Sets: sets}
			if act&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
				errnoRules = append(errnoRules, r)
			} else {
				otherRules = append(otherRules, r)
			}
		}
	}
	f.Rules = append(errnoRules, otherRules...)
	return f, nil
}
