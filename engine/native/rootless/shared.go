package rootless

import (
	"os"
	"path/filepath"
)

// What both sides share: the host side (host_*.go, this package) and the
// holder's (package anchor), which runs in the user namespace.

// AnchorEnv names, in the environment of hoist run in a project's
// namespaces, its anchor's socket.
const AnchorEnv = "HOIST_ANCHOR"

// HolderEnv names, in the environment of hoist run in a holder's
// namespaces, the holder's pid, whose main thread is in the host's
// network namespace.
const HolderEnv = "HOIST_HOLDER_PID"

// WorkDirEnv names, in the environment of hoist run in a holder's
// namespaces, the directory it must change to first (see EnterWorkDir).
const WorkDirEnv = "HOIST_ROOTLESS_WD"

// EnterWorkDir changes to the directory WorkDirEnv names, if it is set,
// and unsets it: nsenter leaves hoist in the directory it was in, by a
// reference from the host's mount namespace, which getcwd cannot name.
func EnterWorkDir() {
	if wd := os.Getenv(WorkDirEnv); wd != "" {
		_ = os.Chdir(wd)
		_ = os.Unsetenv(WorkDirEnv)
	}
}

// SocketFile is the anchor's socket, beside its record.
func SocketFile(runDir, project string) string {
	return filepath.Join(runDir, "anchors", project+".sock")
}

// Roles of a re-executed hoist: RoleUserns waits for its mapping (run
// by RunUserns), RoleAnchor is the holder once mapped and RoleKeepID
// nests a keep-id namespace for it (package anchor runs both).
const (
	RoleUserns = "hoist-runtime:userns"
	RoleAnchor = "hoist-runtime:anchor"
	RoleKeepID = "hoist-runtime:keep-id"
)

// HolderConfig is the holder's argv[1].
type HolderConfig struct {
	// Project is the anchor's project; empty for a holder that ends
	// when the fd it reads (3) reaches its end, with this process.
	Project string `json:"project,omitempty"`
	RunDir  string `json:"run_dir"`
	// Exe is hoist's binary, which the anchor runs as the supervisor.
	Exe string `json:"exe"`
	// KeepUID and KeepGID, when not 0, are the user's ids, which the
	// holder's namespace keeps (userns_mode keep-id, anchor_keepid.go).
	KeepUID int `json:"keep_uid,omitempty"`
	KeepGID int `json:"keep_gid,omitempty"`
	// Next, when set, is the role RoleUserns executes once mapped, in
	// place of the holder's: a command run by itself in a namespace of
	// its own (cmd/hoist/fastrun), which ends with it.
	Next string `json:"next,omitempty"`
	// Arg is Next's own argument.
	Arg string `json:"arg,omitempty"`
}
