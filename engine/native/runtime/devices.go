package runtime

import (
	"github.com/hoist-dev/hoist/internal/devicerule"
)

// Device rules are internal/devicerule's: Docker's defaults, written down
// as data, and the parser of device_cgroup_rules.

// DeviceRule allows access to devices (devicerule.Rule).
type DeviceRule = devicerule.Rule

// AnyDevice is the wildcard of DeviceRule.Major and Minor.
const AnyDevice = devicerule.Any

// Device is a host device made available in the container, as compose's
// devices: entry HOST[:CONTAINER[:ACCESS]]. The runtime reads the host
// node's type, numbers, mode and owner when the container starts, creates
// a node of its own at Path (a change to it never reaches the host's) and
// allows Access to it.
type Device struct {
	HostPath string `json:"host_path"`
	// Path is where the node appears in the container; HostPath when empty.
	Path string `json:"path,omitempty"`
	// Access is a subset of "rwm"; "rwm" when empty.
	Access string `json:"access,omitempty"`
}

// deviceNode is one node the init creates in the container's /dev (or
// wherever Path says): the defaults and the resolved Devices.
type deviceNode struct {
	Path  string `json:"path"`
	Type  byte   `json:"type"` // 'b' or 'c'
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
	Mode  uint32 `json:"mode"` // permission bits
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	// HostPath is the host's node, which a container in a user namespace
	// gets bound (it may not make one).
	HostPath string `json:"host_path,omitempty"`
}

// defaultDeviceNodes are the nodes every container's /dev has, Docker's.
func defaultDeviceNodes() []deviceNode {
	n := func(name string, major, minor int64) deviceNode {
		return deviceNode{Path: "/dev/" + name, Type: 'c', Major: major, Minor: minor, Mode: 0o666, HostPath: "/dev/" + name}
	}
	return []deviceNode{n("null", 1, 3), n("zero", 1, 5), n("full", 1, 7), n("random", 1, 8), n("urandom", 1, 9), n("tty", 5, 0)}
}

// deviceRules is the whole allow list of spec's container, after the
// implicit deny of everything: every device for a privileged one,
// otherwise the defaults, the resolved devices and the extra rules.
func deviceRules(privileged bool, nodes []deviceNode, access []string, extra []DeviceRule) []DeviceRule {
	if privileged {
		return []DeviceRule{devicerule.All()}
	}
	rules := devicerule.Defaults()
	for i, n := range nodes {
		rules = append(rules, DeviceRule{Type: n.Type, Major: n.Major, Minor: n.Minor, Access: access[i]})
	}
	return append(rules, extra...)
}
