package network

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
)

// Interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL). Both
// kinds carry a hash of who owns them, so two projects never collide and a
// name is computed again from the state alone.
const (
	bridgePrefix = "hoist-" // + 9 hex = 15
	vethPrefix   = "hv"     // + 13 hex = 15
	maxIfName    = 15
)

func hashHex(n int, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:n]
}

// bridgeName is the Linux bridge of project's network name.
func bridgeName(project, name string) string {
	return bridgePrefix + hashHex(maxIfName-len(bridgePrefix), "bridge", project, name)
}

// vethName is the host end of container's veth on network.
func vethName(project, container, network string) string {
	return vethPrefix + hashHex(maxIfName-len(vethPrefix), "veth", project, container, network)
}

// linkAlias tags every link hoist creates (IFLA_IFALIAS), so Teardown
// finds a project's links even when a crash lost their record.
func linkAlias(project, what string) string {
	return "hoist:" + project + "/" + what
}

func aliasPrefix(project string) string { return "hoist:" + project + "/" }

// Names that become paths and interface aliases: compose project names,
// network and container names (Docker's [a-zA-Z0-9][a-zA-Z0-9_.-]*).
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func checkName(kind, s string) error {
	if len(s) > 200 || !validName.MatchString(s) {
		return fmt.Errorf("invalid %s name %q", kind, s)
	}
	return nil
}
