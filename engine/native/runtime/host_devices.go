//go:build !hoistinit

package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// resolveDevices reads the host nodes of devs, as Docker does for
// --device: a symlink is followed, and a directory gives every device
// node below it (at the same place below the container path). It returns
// the nodes to make and the access of each.
func resolveDevices(devs []Device) ([]deviceNode, []string, error) {
	var nodes []deviceNode
	var access []string
	for _, d := range devs {
		host, err := filepath.EvalSymlinks(d.HostPath)
		if err != nil {
			return nil, nil, fmt.Errorf("device %s: %w", d.HostPath, err)
		}
		dst := d.Path
		if dst == "" {
			dst = d.HostPath
		}
		acc := d.Access
		if acc == "" {
			acc = "rwm"
		}
		fi, err := os.Stat(host)
		if err != nil {
			return nil, nil, fmt.Errorf("device %s: %w", d.HostPath, err)
		}
		if !fi.IsDir() {
			n, ok := nodeOf(fi)
			if !ok {
				return nil, nil, fmt.Errorf("device %s is not a character or block device", d.HostPath)
			}
			n.Path, n.HostPath = dst, host
			nodes, access = append(nodes, n), append(access, acc)
			continue
		}
		before := len(nodes)
		err = filepath.WalkDir(host, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.Type()&(fs.ModeDevice|fs.ModeCharDevice) == 0 {
				return err
			}
			fi, err := e.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			n, ok := nodeOf(fi)
			if !ok {
				return nil
			}
			rel, _ := filepath.Rel(host, p)
			n.Path, n.HostPath = path.Join(dst, filepath.ToSlash(rel)), p
			nodes, access = append(nodes, n), append(access, acc)
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("device %s: %w", d.HostPath, err)
		}
		if len(nodes) == before {
			return nil, nil, fmt.Errorf("device %s: a directory with no device in it", d.HostPath)
		}
	}
	return nodes, access, nil
}

// nodeOf describes the device node p, or reports that it is none.
func nodeOf(fi os.FileInfo) (deviceNode, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return deviceNode{}, false
	}
	var typ byte
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = 'c'
	case unix.S_IFBLK:
		typ = 'b'
	default:
		return deviceNode{}, false
	}
	return deviceNode{Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
		Mode: st.Mode & 0o777, UID: int(st.Uid), GID: int(st.Gid)}, true
}
