package runtime

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/hoist-dev/hoist/engine/native/runtime/stdio"
)

// argJoinMountNS, the exec helper's first argument, says that fdMountNS is
// the container's mount namespace, to be joined by the helper itself
// (see Exec) first thing.
const argJoinMountNS = "join-mount-ns"

// execConfig is sent to the exec helper.
type execConfig struct {
	finalConfig
	// TTY: give the command a pty of the container's devpts, of size
	// Size, whose master goes back over the console socket (fdConsole).
	TTY  bool    `json:"tty,omitempty"`
	Size WinSize `json:"size,omitzero"`
}

// WinSize is a terminal's size in characters.
type WinSize = stdio.WinSize

// Where the exec helper and the init receive the console socket.
const (
	fdConsole     = 7
	fdInitConsole = 6
)

// fdMountNS is where the exec helper receives the mount namespace.
const fdMountNS = 5

// joinMountNS is the helper's side of Exec; see there.
func joinMountNS() error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare filesystem info: %w", err)
	}
	if err := unix.Setns(fdMountNS, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join container mount namespace: %w", err)
	}
	_ = unix.Close(fdMountNS)
	return nil
}
