package runtime

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// execConfig is sent to the exec helper.
type execConfig struct {
	finalConfig
	// JoinMountNS: fdMountNS is the container's mount namespace, to be
	// joined by the helper itself (see Exec).
	JoinMountNS bool `json:"join_mount_ns"`
}

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
