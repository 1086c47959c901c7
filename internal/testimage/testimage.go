// Package testimage builds a tiny busybox root filesystem as a tar stream, so
// tests on every engine have an image without a registry. It needs the static
// busybox of Debian's busybox-static package.
package testimage

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// Available reports whether a static busybox is installed, with a hint when not.
func Available() error {
	if _, err := os.Stat(BusyboxPath); err != nil {
		return fmt.Errorf("test image needs %s: apt-get install -y busybox-static: %w", BusyboxPath, err)
	}
	return nil
}

// WriteRootfs writes a rootfs tar: /bin/busybox, a symlink per applet in
// /bin, /etc/passwd and /etc/group with root and nobody, and empty /tmp,
// /proc, /sys, /dev, /etc/hosts and /etc/resolv.conf.
func WriteRootfs(w io.Writer) error {
	if err := Available(); err != nil {
		return err
	}
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("list busybox applets: %w", err)
	}
	tw := tar.NewWriter(w)
	mt := time.Unix(0, 0)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: mt})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mt}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root", "home", "var", "usr", "usr/bin", "sbin"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := dir(d, mode); err != nil {
			return err
		}
	}
	if err := file("bin/busybox", 0o755, bin); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: mt}); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":       "root:x:0:\nnogroup:x:65534:\n",
		"etc/hosts":       "",
		"etc/resolv.conf": "",
		"etc/hostname":    "",
	}
	for _, name := range []string{"etc/passwd", "etc/group", "etc/hosts", "etc/resolv.conf", "etc/hostname"} {
		if err := file(name, 0o644, []byte(files[name])); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return errors.Join(fmt.Errorf("close rootfs tar: %w", err))
	}
	return nil
}
