package rootless

import (
	"errors"
	"os"
	"os/exec"
	"strings"
)

// Check reports why rootless cannot run here, or nil: user namespaces
// allowed and util-linux's nsenter present. (hoist doctor says more.)
func Check() error {
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return errors.New("rootless native engine: user namespaces are disabled (sysctl user.max_user_namespaces is 0)")
	}
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		return errors.New("rootless native engine: this kernel has no user namespaces")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		return errors.New("rootless native engine: nsenter (util-linux) is not installed")
	}
	return nil
}
