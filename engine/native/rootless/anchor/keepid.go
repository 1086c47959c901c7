package anchor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/hoist-dev/hoist/engine/native/rootless"
)

// runKeepID runs, as root of a holder's plain user namespace (the user
// is 0, the subordinate range 1 on), the holder itself in a user
// namespace nested in it whose mapping keeps the user's ids
// (userns_mode keep-id): inside, the user's uid is the plain namespace's
// 0, the host's uid, and 0 is the plain namespace's uid; every other id
// is itself. Seen from the host that is Mapping.KeepID.
//
// Why nested and not the keep-id mapping written by newuidmap at once:
// the holder must run as its namespace's root to have capabilities
// after it executes hoist, and newuidmap maps a process already running
// as the user, which keep-id makes a uid other than 0. Here the mapping
// is written by this process (root with CAP_SETUID in the parent
// namespace may map any of its ids) before the child executes, as
// uid 0. The layers, unpacked in plain namespaces, keep their owners
// but for the two swapped ids.
//
// It lives as long as the holder and ends with its status; the host
// side knows the holder by the pid in its ready line.
func runKeepID() int {
	ready := os.NewFile(4, "ready")
	var cfg rootless.HolderConfig
	if err := jsonArg(&cfg); err != nil {
		fmt.Fprintf(ready, "keep-id config: %v\n", err)
		return 1
	}
	uids, err := keepIDMaps("/proc/self/uid_map", cfg.KeepUID)
	if err != nil {
		fmt.Fprintf(ready, "keep-id uid %d: %v\n", cfg.KeepUID, err)
		return 1
	}
	gids, err := keepIDMaps("/proc/self/gid_map", cfg.KeepGID)
	if err != nil {
		fmt.Fprintf(ready, "keep-id gid %d: %v\n", cfg.KeepGID, err)
		return 1
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{rootless.RoleAnchor, os.Args[1]},
		Env:        os.Environ(),
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{os.NewFile(3, "keep"), ready},
		SysProcAttr: &syscall.SysProcAttr{
			// A mount namespace of its own: mounts need one owned by the
			// user namespace the mounter is root of.
			Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings:                uids,
			GidMappings:                gids,
			GidMappingsEnableSetgroups: true,
			Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
		},
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(ready, "keep-id user namespace: %v\n", err)
		return 1
	}
	ready.Close()
	var ee *exec.ExitError
	switch err := cmd.Wait(); {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		return 1
	}
}

// keepIDMaps is the nested namespace's mapping, in this namespace's
// ids: 0 and id swapped, all other ids of this namespace (by its map
// file's sizes) themselves.
func keepIDMaps(mapFile string, id int) ([]syscall.SysProcIDMap, error) {
	b, err := os.ReadFile(mapFile)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			n, err := strconv.Atoi(f[2])
			if err != nil {
				return nil, fmt.Errorf("%s: %q", mapFile, line)
			}
			total += n
		}
	}
	if id <= 0 || id >= total {
		return nil, fmt.Errorf("the namespace maps %d ids: keep-id needs a subordinate range that holds your id", total)
	}
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: id, Size: 1}}
	if id > 1 {
		m = append(m, syscall.SysProcIDMap{ContainerID: 1, HostID: 1, Size: id - 1})
	}
	m = append(m, syscall.SysProcIDMap{ContainerID: id, HostID: 0, Size: 1})
	if id+1 < total {
		m = append(m, syscall.SysProcIDMap{ContainerID: id + 1, HostID: id + 1, Size: total - id - 1})
	}
	return m, nil
}

// jsonArg decodes os.Args[1].
func jsonArg(v any) error {
	return json.Unmarshal([]byte(os.Args[1]), v)
}
