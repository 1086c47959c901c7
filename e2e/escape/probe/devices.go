package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Device cases: a node made with mknod (CAP_MKNOD is in Docker's default
// set, and Docker's device cgroup allows mknod of any device) and then
// opened. What stops the open is the device allow list: Docker's is
// c 1:3 1:5 1:7 1:8 1:9 5:0 5:1 5:2 10:200 136:* and mknod of anything.

// chrDevice is a character device outside (or, null, inside) Docker's list.
type chrDevice struct {
	major, minor uint32
	flags        int
}

var chrDevices = map[string]chrDevice{
	"null":        {1, 3, unix.O_RDWR},                   // in the list: the control
	"tun":         {10, 200, unix.O_RDWR},                // in Docker's list, hoist leaves it out
	"userfaultfd": {10, 257, unix.O_RDWR},                // reopens userfaultfd past seccomp
	"kmsg":        {1, 11, unix.O_RDONLY},                // the host's kernel log
	"fuse":        {10, 229, unix.O_RDWR},                // a FUSE server on the host kernel
	"loopctl":     {10, 237, unix.O_RDWR},                // allocates host loop devices (never ioctl'd here)
	"tty1":        {4, 1, unix.O_WRONLY | unix.O_NOCTTY}, // the host's first virtual console (never written)
}

func init() {
	for name, d := range chrDevices {
		cases["open_chr_"+name] = func(o *opts) result { return openChr(name, d) }
	}
	cases["mknod_blk_loop"] = mknodLoop
	cases["read_blk_loop"] = readLoop
	cases["write_blk_loop"] = writeLoop
}

func openChr(name string, d chrDevice) result {
	path := "/tmp/.escape-chr-" + name
	os.Remove(path)
	if err := unix.Mknod(path, unix.S_IFCHR|0o600, int(unix.Mkdev(d.major, d.minor))); err != nil {
		return denied("mknod", err)
	}
	defer os.Remove(path)
	fd, err := unix.Open(path, d.flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return denied("open", err)
	}
	unix.Close(fd)
	return allowed("opened c %d:%d", d.major, d.minor)
}

// loopNode makes a block node for the test's loop device (o.loop).
func loopNode(o *opts) (string, result, bool) {
	maj, min, err := parseDev(o.loop)
	if err != nil {
		return "", result{Outcome: "error", Detail: "-loop: " + err.Error()}, false
	}
	path := "/tmp/.escape-blk"
	os.Remove(path)
	if err := unix.Mknod(path, unix.S_IFBLK|0o600, int(unix.Mkdev(maj, min))); err != nil {
		return "", denied("mknod", err), false
	}
	return path, result{}, true
}

func mknodLoop(o *opts) result {
	path, r, ok := loopNode(o)
	if !ok {
		return r
	}
	os.Remove(path)
	return allowed("mknod b %s", o.loop)
}

// readLoop reads the start of the host's loop device: the test's secret
// is there, so the detail shows whether it leaked.
func readLoop(o *opts) result {
	path, r, ok := loopNode(o)
	if !ok {
		return r
	}
	defer os.Remove(path)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return denied("open", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 64)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return denied("read", err)
	}
	return allowed("read %q", buf[:n])
}

// writeLoop writes through the loop device to the test's file on the
// host, and syncs, so that a write that got through is in the file by
// the time the test compares it.
func writeLoop(o *opts) result {
	path, r, ok := loopNode(o)
	if !ok {
		return r
	}
	defer os.Remove(path)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return denied("open", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, []byte("ESCAPE-PROBE-WROTE-HERE"), 0); err != nil {
		return denied("write", err)
	}
	if err := unix.Fsync(fd); err != nil {
		return denied("fsync", err)
	}
	return allowed("wrote 23 bytes at offset 0")
}

func parseDev(s string) (uint32, uint32, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not MAJ:MIN", s)
	}
	maj, err := strconv.ParseUint(a, 10, 32)
	if err != nil {
		return 0, 0, err
	}
	min, err := strconv.ParseUint(b, 10, 32)
	if err != nil {
		return 0, 0, err
	}
	return uint32(maj), uint32(min), nil
}
