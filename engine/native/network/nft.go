package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Each project has its own nftables table, "ip hoist-<project>", rebuilt
// whole from the project's network state files in one netlink transaction
// after every change (so it is idempotent and crash-safe), and deleted by
// name when the project has no network left or is torn down. Another
// project's table is never read or written.
//
//	chain postrouting (nat, srcnat): per non-internal network
//	    ip saddr <subnet> oifname != "hoist-*" masquerade
//	chain forward (filter, policy accept): per internal network
//	    iifname <bridge> oifname != <bridge> drop
//	    oifname <bridge> iifname != <bridge> drop
//	  per other network
//	    iifname <bridge> oifname "hoist-*" oifname != <bridge> drop
//	    iifname <bridge> accept
//	    oifname <bridge> ct state established,related accept
//
// Published ports go through the userland proxy (portproxy), which reaches
// containers from the host, so no DNAT is needed.

// TableName is the nftables table (family ip) of project.
func TableName(project string) string { return "hoist-" + project }

func nftTable(project string) *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName(project)}
}

// applyRules makes project's table match nets.
func applyRules(project string, nets []netState) error {
	if len(nets) == 0 {
		return deleteTable(project)
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	t := c.AddTable(nftTable(project))
	c.FlushTable(t)
	accept := nftables.ChainPolicyAccept
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	for _, n := range nets {
		for _, r := range netRules(n) {
			r.Table = t
			if r.Chain == nil {
				r.Chain = fwd
			} else {
				r.Chain = post
			}
			c.AddRule(r)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", TableName(project), err)
	}
	return nil
}

// netRules is n's rules; a non-nil Chain marks a postrouting rule (the
// caller fills in the real chains).
func netRules(n netState) []*nftables.Rule {
	br := n.Bridge
	if n.Internal {
		return []*nftables.Rule{
			{Exprs: join(ifMatch(expr.MetaKeyIIFNAME, br, true), ifMatch(expr.MetaKeyOIFNAME, br, false), verdict(expr.VerdictDrop))},
			{Exprs: join(ifMatch(expr.MetaKeyOIFNAME, br, true), ifMatch(expr.MetaKeyIIFNAME, br, false), verdict(expr.VerdictDrop))},
		}
	}
	mask := make([]byte, 4)
	for i := range n.Subnet.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	masq := join(
		[]expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.Subnet.Masked().Addr().AsSlice()},
		},
		// A prefix comparison: oifname != "hoist-*".
		[]expr.Any{&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte(bridgePrefix)}},
		[]expr.Any{&expr.Masq{}},
	)
	return []*nftables.Rule{
		{Chain: &nftables.Chain{}, Exprs: masq},
		// Networks are isolated from each other, as Docker's are.
		{Exprs: join(ifMatch(expr.MetaKeyIIFNAME, br, true),
			[]expr.Any{&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(bridgePrefix)}},
			ifMatch(expr.MetaKeyOIFNAME, br, false), verdict(expr.VerdictDrop))},
		{Exprs: join(ifMatch(expr.MetaKeyIIFNAME, br, true), verdict(expr.VerdictAccept))},
		{Exprs: join(ifMatch(expr.MetaKeyOIFNAME, br, true), []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: nativeU32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		}, verdict(expr.VerdictAccept))},
		// Nothing else is forwarded into the network: a neighbour routing
		// to its subnet through the host (the LAN, another bridge) does
		// not reach a container's unpublished ports, as with Docker's
		// DROP policy. Published ports go through the userland proxy,
		// which the host itself connects from.
		{Exprs: join(ifMatch(expr.MetaKeyOIFNAME, br, true), verdict(expr.VerdictDrop))},
	}
}

func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

// ifMatch compares an interface name exactly (NUL-padded to IFNAMSIZ).
func ifMatch(key expr.MetaKey, name string, eq bool) []expr.Any {
	op := expr.CmpOpEq
	if !eq {
		op = expr.CmpOpNeq
	}
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: b}}
}

// nativeU32 is v in host byte order, as conntrack state bits are compared.
func nativeU32(v uint32) []byte {
	return binary.NativeEndian.AppendUint32(nil, v)
}

// deleteTable removes project's table if it exists.
func deleteTable(project string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	defer c.CloseLasting()
	if _, err := c.ListTableOfFamily(TableName(project), nftables.TableFamilyIPv4); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "no such file") {
			return nil
		}
		return fmt.Errorf("nftables: list table %s: %w", TableName(project), err)
	}
	c.DelTable(nftTable(project))
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: delete table %s: %w", TableName(project), err)
	}
	return nil
}

// enableForwarding turns on IPv4 forwarding, which outbound traffic of
// non-internal networks needs. It is never turned off again: other
// software may rely on it, as with Docker.
func enableForwarding() error {
	const p = "/proc/sys/net/ipv4/ip_forward"
	cur, err := os.ReadFile(p)
	if err == nil && strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable ip_forward: %w", err)
	}
	return nil
}
