package network

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/google/nftables"
)

// Docker's FORWARD DROP.
//
// dockerd (with its default --iptables=true) sets the iptables filter
// table's FORWARD policy to DROP, and loads br_netfilter, which sends
// bridged IPv4 frames through that chain too. In nftables a packet
// passes a hook only if every base chain on it accepts, so the accept
// rules in hoist's own table do not help: traffic between containers of
// one hoist bridge, and out of it, is dropped. net.bridge.bridge-nf-call-
// iptables is per namespace, not per bridge, and turning it off would
// break Docker's own isolation.
//
// So hoist adds two rules per bridge in the one place Docker reserves for
// its users, the DOCKER-USER chain (or, without Docker, at the top of
// FORWARD), with the iptables command Docker itself uses, so that both
// see the same backend (nf_tables or legacy):
//
//	-i <bridge> -m comment --comment hoist:<project> -j ACCEPT
//	-o <bridge> -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment hoist:<project> -j ACCEPT
//
// Only when needed: iptables exists and either bridged frames go through
// it (bridge-nf-call-iptables is 1) or FORWARD does not accept by default.
// An accept there never overrides hoist's own drops (isolation between
// networks, internal networks): those are in hoist's table, a separate
// base chain. RemoveNetwork and Teardown delete the rules by their
// comment, so they go with the project even when its records are lost.

// iptablesCmd runs iptables with the xtables lock; tests replace it.
var iptablesCmd = func(args ...string) ([]byte, error) {
	return exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
}

// iptablesMissing reports whether there is no iptables state to deal
// with: no iptables command, or the nf_tables variant with no "ip filter"
// table (listing a chain would create the table, so it is not asked).
func iptablesMissing() bool {
	if _, err := exec.LookPath("iptables"); err != nil {
		return true
	}
	iptablesVariant.once.Do(func() {
		out, _ := exec.Command("iptables", "--version").CombinedOutput()
		iptablesVariant.nft = strings.Contains(string(out), "nf_tables")
	})
	if !iptablesVariant.nft {
		return false
	}
	c, err := nftables.New()
	if err != nil {
		return false
	}
	defer c.CloseLasting()
	_, err = c.ListTableOfFamily("filter", nftables.TableFamilyIPv4)
	return err != nil
}

var iptablesVariant struct {
	once sync.Once
	nft  bool
}

// forwardChain is where hoist's accept rules go, or "" when none are
// needed.
func forwardChain() string {
	if iptablesMissing() {
		return ""
	}
	if _, err := iptablesCmd("-S", "DOCKER-USER"); err == nil {
		return "DOCKER-USER"
	}
	out, err := iptablesCmd("-S", "FORWARD")
	if err != nil {
		return ""
	}
	nf, _ := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables")
	if strings.TrimSpace(string(nf)) == "1" || !strings.Contains(string(out), "-P FORWARD ACCEPT") {
		return "FORWARD"
	}
	return ""
}

func forwardRules(project, bridge string) [][]string {
	c := []string{"-m", "comment", "--comment", "hoist:" + project}
	return [][]string{
		append([]string{"-i", bridge}, append(c, "-j", "ACCEPT")...),
		append([]string{"-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"}, append(c, "-j", "ACCEPT")...),
	}
}

// allowForward installs n's accept rules in chain (none when chain is
// empty); it is idempotent.
func allowForward(chain string, n netState) error {
	if chain == "" {
		return nil
	}
	for _, r := range forwardRules(n.Project, n.Bridge) {
		if _, err := iptablesCmd(append([]string{"-C", chain}, r...)...); err == nil {
			continue
		}
		if out, err := iptablesCmd(append([]string{"-I", chain}, r...)...); err != nil {
			return fmt.Errorf("iptables -I %s %s: %v: %s", chain, strings.Join(r, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// dropForward deletes n's accept rules from chain, where allowForward put
// them; a rule already gone is not an error.
func dropForward(chain string, n netState) error {
	if chain == "" {
		return nil
	}
	var errs []error
	for _, r := range forwardRules(n.Project, n.Bridge) {
		if _, err := iptablesCmd(append([]string{"-C", chain}, r...)...); err != nil {
			continue
		}
		if out, err := iptablesCmd(append([]string{"-D", chain}, r...)...); err != nil {
			errs = append(errs, fmt.Errorf("iptables -D %s %s: %v: %s", chain, strings.Join(r, " "), err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}

// removeForward deletes project's accept rules (only bridge's, unless
// bridge is empty) from DOCKER-USER and FORWARD.
func removeForward(project, bridge string) error {
	if iptablesMissing() {
		return nil
	}
	var errs []error
	for _, chain := range []string{"DOCKER-USER", "FORWARD"} {
		out, err := iptablesCmd("-S", chain)
		if err != nil {
			continue // no such chain
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "-A" || !strings.Contains(line, "hoist:"+project+" ") && !strings.HasSuffix(line, "hoist:"+project) && !strings.Contains(line, `"hoist:`+project+`"`) {
				continue
			}
			if bridge != "" && !strings.Contains(line, " "+bridge+" ") {
				continue
			}
			if out, err := iptablesCmd(append([]string{"-D"}, unquote(f[1:])...)...); err != nil {
				errs = append(errs, fmt.Errorf("iptables -D %s: %v: %s", strings.Join(f[1:], " "), err, strings.TrimSpace(string(out))))
			}
		}
	}
	return errors.Join(errs...)
}

// unquote strips the quotes iptables -S puts around comments.
func unquote(f []string) []string {
	out := make([]string, len(f))
	for i, s := range f {
		out[i] = strings.Trim(s, `"`)
	}
	return out
}
