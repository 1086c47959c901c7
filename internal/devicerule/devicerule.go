// Package devicerule holds device access rules as cgroup v1's
// devices.allow writes them ("c 1:3 rwm"), Docker's default allow list,
// and the parser of compose's device_cgroup_rules. It is data only, so
// the loader can check a compose file's rules before anything is created
// and the native runtime can enforce the same list.
//
// A container's access to device nodes is decided by such rules, as with
// Docker: deny everything, then allow a short list (the device cgroup on
// cgroup v1, a device eBPF program on cgroup v2). CAP_MKNOD is among
// Docker's default capabilities, so without the rules a container could
// create a node for any host device (the root disk, a loop device,
// /dev/mem) and open it.
package devicerule

import (
	"fmt"
	"strconv"
	"strings"
)

// Rule allows access to devices, as one line of cgroup v1's
// devices.allow: Type 'a' (all), 'b' or 'c'; Major and Minor, -1 for any
// ("*"); Access, a non-empty subset of "rwm" (read, write, mknod).
type Rule struct {
	Type   byte   `json:"type"`
	Major  int64  `json:"major"`
	Minor  int64  `json:"minor"`
	Access string `json:"access"`
}

// Any is the wildcard of Rule.Major and Minor.
const Any = -1

// String renders the rule as devices.allow takes it: "c 1:3 rwm".
func (r Rule) String() string {
	num := func(n int64) string {
		if n == Any {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	if r.Type == 'a' {
		return "a *:* " + r.Access
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

// Defaults is what every container may do with devices unless
// it is privileged: create any device node (mknod, as Docker allows, so
// that an image's build can make nodes), and read and write only these
// character devices:
//
//	1:3 null, 1:5 zero, 1:7 full, 1:8 random, 1:9 urandom,
//	5:0 tty, 5:1 console, 5:2 ptmx, 136:* the pseudo-terminals (pts)
//
// This is Docker's default list without 10:200 (/dev/net/tun), which
// Docker 20.10 still allows and runc 1.2 dropped from its defaults: a
// service that needs tun names it in devices:, and gets it then.
func Defaults() []Rule {
	c := func(major, minor int64) Rule {
		return Rule{Type: 'c', Major: major, Minor: minor, Access: "rwm"}
	}
	return []Rule{
		{Type: 'c', Major: Any, Minor: Any, Access: "m"},
		{Type: 'b', Major: Any, Minor: Any, Access: "m"},
		c(1, 3), c(1, 5), c(1, 7), c(1, 8), c(1, 9),
		c(5, 0), c(5, 1), c(5, 2),
		c(136, Any),
	}
}

// All allows every device: the only rule of a privileged container.
func All() Rule { return Rule{Type: 'a', Major: Any, Minor: Any, Access: "rwm"} }

// Parse parses a rule as compose's device_cgroup_rules and
// Docker's --device-cgroup-rule write it: "c 1:3 rwm", "b 8:* r", "a".
func Parse(s string) (Rule, error) {
	bad := func(why string) (Rule, error) {
		return Rule{}, fmt.Errorf("device rule %q: %s (want TYPE MAJOR:MINOR ACCESS, as in \"c 1:3 rwm\")", s, why)
	}
	f := strings.Fields(s)
	if len(f) == 0 || len(f[0]) != 1 || !strings.Contains("abc", f[0]) {
		return bad("type must be a, b or c")
	}
	r := Rule{Type: f[0][0], Major: Any, Minor: Any, Access: "rwm"}
	if r.Type == 'a' {
		if len(f) > 1 && f[1] != "*:*" || len(f) > 3 {
			return bad("type a takes no device numbers")
		}
		if len(f) == 3 {
			r.Access = f[2]
		}
	} else {
		if len(f) != 3 {
			return bad("wrong number of fields")
		}
		maj, min, ok := strings.Cut(f[1], ":")
		if !ok {
			return bad("numbers must be MAJOR:MINOR")
		}
		var err error
		if r.Major, err = deviceNumber(maj); err != nil {
			return bad(err.Error())
		}
		if r.Minor, err = deviceNumber(min); err != nil {
			return bad(err.Error())
		}
		r.Access = f[2]
	}
	if !ValidAccess(r.Access) {
		return bad("access must be letters of rwm")
	}
	return r, nil
}

func deviceNumber(s string) (int64, error) {
	if s == "*" {
		return Any, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("device number %q", s)
	}
	return int64(n), nil
}

// ValidAccess reports whether a is a non-empty subset of "rwm".
func ValidAccess(a string) bool {
	if a == "" || len(a) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range a {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// Validate checks a rule made by other means than Parse.
func (r Rule) Validate() error {
	if r.Type != 'a' && r.Type != 'b' && r.Type != 'c' {
		return fmt.Errorf("device rule type %q", r.Type)
	}
	for _, n := range []int64{r.Major, r.Minor} {
		if n < Any || n > 1<<32-1 {
			return fmt.Errorf("device rule number %d", n)
		}
	}
	if !ValidAccess(r.Access) {
		return fmt.Errorf("device rule access %q", r.Access)
	}
	return nil
}
