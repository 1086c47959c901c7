//go:build !hoistinit

package runtime

import (
	"fmt"
	"sync"
	"syscall"

	bpfseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Docker's default seccomp profile is translated to a go-seccomp-bpf policy.
//
// Exact: conditional rules on capabilities, architecture and kernel version
// are resolved by moby's own setup code for the container's final bounding
// set, so e.g. clone with namespace flags is allowed only with CAP_SYS_ADMIN.
// Names, the allow and errno actions (with their errno values) and the
// comparisons EQ, NE, LT, LE, GT, GE and MASKED_EQ with a zero result are
// translated. Arguments on one index within a rule are OR-ed and different
// indices AND-ed, as runc does.
//
// Approximated:
//   - Only the native architecture is allowed; syscalls through the x32 ABI
//     fail with ENOSYS and through other ABIs (i386 int 0x80) with EPERM,
//     where Docker allows x86 and x32. 32-bit binaries do not run.
//   - Names unknown to go-seccomp-bpf's table for this architecture are
//     skipped (libseccomp skips names it does not know too).
//   - A rule whose argument test cannot be expressed (MASKED_EQ with a
//     non-zero result, none in the default profile) is dropped, which leaves
//     the syscall denied: the safe direction.
//   - Rules are tried in order with errno rules first; the profile never
//     gives one syscall two overlapping rules with different actions, so the
//     order only matters for custom profiles.
//
// The program is compiled by the process that starts the container (Start,
// Exec), once per capability set in that process (the one for Docker's
// default set is compiled at build time, see seccomp_embed.go), and travels
// to the init in its configuration, so the init only installs it.

var seccompCache struct {
	sync.Mutex
	progs map[capSet]*seccompProgram
}

// seccompFor returns the program a process with sec gets, nil when it runs
// without seccomp. The bounding set is hoist's own (the container's
// starts as a copy of it), as in execFinal.
func seccompFor(sec Security) (*seccompProgram, error) {
	if sec.Privileged || sec.SeccompUnconfined {
		return nil, nil
	}
	caps, err := sec.capabilities()
	if err != nil {
		return nil, err
	}
	caps &= boundingSet()
	seccompCache.Lock()
	defer seccompCache.Unlock()
	if p, ok := seccompCache.progs[caps]; ok {
		return p, nil
	}
	p := embeddedSeccomp(caps)
	if p == nil {
		if p, err = compileDefaultSeccomp(caps); err != nil {
			return nil, err
		}
	}
	if seccompCache.progs == nil {
		seccompCache.progs = map[capSet]*seccompProgram{}
	}
	seccompCache.progs[caps] = p
	return p, nil
}

// compileDefaultSeccomp compiles Docker's default profile for a container
// whose bounding set is caps.
func compileDefaultSeccomp(caps capSet) (*seccompProgram, error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps.names()}}}
	prof, err := seccomp.GetDefaultProfile(rs)
	if err != nil {
		return nil, fmt.Errorf("seccomp default profile: %w", err)
	}
	policy, err := translateSeccomp(prof)
	if err != nil {
		return nil, err
	}
	insts, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp policy: %w", err)
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp bpf: %w", err)
	}
	p := &seccompProgram{filter: make([]syscall.SockFilter, len(raw))}
	for i, r := range raw {
		p.filter[i] = syscall.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return p, nil
}

func translateAction(act specs.LinuxSeccompAction, errnoRet *uint) (bpfseccomp.Action, error) {
	switch act {
	case specs.ActAllow:
		return bpfseccomp.ActionAllow, nil
	case specs.ActErrno:
		errno := uint(unix.EPERM)
		if errnoRet != nil {
			errno = *errnoRet
		}
		if errno == uint(unix.EPERM) {
			// go-seccomp-bpf only accepts the bare action as a default; it
			// means EPERM.
			return bpfseccomp.ActionErrno, nil
		}
		return bpfseccomp.ActionErrno | bpfseccomp.Action(errno&0xffff), nil
	case specs.ActKillProcess:
		return bpfseccomp.ActionKillProcess, nil
	case specs.ActKill, specs.ActKillThread:
		return bpfseccomp.ActionKillThread, nil
	case specs.ActTrap:
		return bpfseccomp.ActionTrap, nil
	case specs.ActLog:
		return bpfseccomp.ActionLog, nil
	}
	return 0, fmt.Errorf("seccomp action %q is not supported", act)
}

func translateOp(a specs.LinuxSeccompArg) (bpfseccomp.Condition, bool) {
	c := bpfseccomp.Condition{Argument: uint32(a.Index), Value: a.Value}
	switch a.Op {
	case specs.OpEqualTo:
		c.Operation = bpfseccomp.Equal
	case specs.OpNotEqual:
		c.Operation = bpfseccomp.NotEqual
	case specs.OpLessThan:
		c.Operation = bpfseccomp.LessThan
	case specs.OpLessEqual:
		c.Operation = bpfseccomp.LessOrEqual
	case specs.OpGreaterThan:
		c.Operation = bpfseccomp.GreaterThan
	case specs.OpGreaterEqual:
		c.Operation = bpfseccomp.GreaterOrEqual
	case specs.OpMaskedEqual:
		if a.ValueTwo != 0 {
			return c, false
		}
		c.Operation = bpfseccomp.BitsNotSet
	default:
		return c, false
	}
	return c, true
}

// conditionSets expands a rule's arguments: one index with several tests
// is an OR, different indices an AND.
func conditionSets(args []specs.LinuxSeccompArg) ([]bpfseccomp.ArgumentConditions, bool) {
	byIndex := map[uint][]bpfseccomp.Condition{}
	var order []uint
	for _, a := range args {
		c, ok := translateOp(a)
		if !ok {
			return nil, false
		}
		if _, seen := byIndex[a.Index]; !seen {
			order = append(order, a.Index)
		}
		byIndex[a.Index] = append(byIndex[a.Index], c)
	}
	sets := []bpfseccomp.ArgumentConditions{nil}
	for _, idx := range order {
		var next []bpfseccomp.ArgumentConditions
		for _, s := range sets {
			for _, c := range byIndex[idx] {
				n := append(append(bpfseccomp.ArgumentConditions{}, s...), c)
				next = append(next, n)
			}
		}
		sets = next
	}
	return sets, true
}

func translateSeccomp(prof *specs.LinuxSeccomp) (*bpfseccomp.Policy, error) {
	def, err := translateAction(prof.DefaultAction, prof.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp architecture: %w", err)
	}
	known := func(name string) bool { _, ok := info.SyscallNames[name]; return ok }
	var errnoGroups, otherGroups []bpfseccomp.SyscallGroup
	for _, rule := range prof.Syscalls {
		act, err := translateAction(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, err
		}
		if act == def {
			continue
		}
		g := bpfseccomp.SyscallGroup{Action: act}
		sets, ok := conditionSets(rule.Args)
		if !ok {
			continue
		}
		for _, name := range rule.Names {
			if !known(name) {
				continue
			}
			if len(rule.Args) == 0 {
				g.Names = append(g.Names, name)
				continue
			}
			for _, s := range sets {
				g.NamesWithCondtions = append(g.NamesWithCondtions, bpfseccomp.NameWithConditions{Name: name, Conditions: s})
			}
		}
		if len(g.Names)+len(g.NamesWithCondtions) == 0 {
			continue
		}
		if act&unix.SECCOMP_RET_ACTION_FULL == bpfseccomp.ActionErrno {
			errnoGroups = append(errnoGroups, g)
		} else {
			otherGroups = append(otherGroups, g)
		}
	}
	return &bpfseccomp.Policy{DefaultAction: def, Syscalls: append(errnoGroups, otherGroups...)}, nil
}
