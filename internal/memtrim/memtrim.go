// Package memtrim gives back memory that a long-lived, mostly idle
// process (the native supervisor) touched once and no longer uses.
//
// A hoist process maps all of its 25 MB executable, and package
// initialisation and the first container starts touch much of it (the
// embedded init binary alone is 2.6 MB of read-only data, copied once into
// a memfd). Those pages stay in the process's RSS although it never reads
// them again. Dropping the process's mappings of its executable's
// read-only segments (madvise MADV_DONTNEED, which for a private, never
// written file mapping only unmaps: the next access maps the page again
// from the page cache) leaves resident only what the steady state uses.
package memtrim

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Trim drops the process's mappings of the read-only segments of its
// executable and returns the heap's free memory to the system.
func Trim() error {
	debug.FreeOSMemory()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("memtrim: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("memtrim: %w", err)
	}
	defer f.Close()
	var ranges [][2]uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if r, ok := readOnlyMapping(sc.Text(), exe); ok {
			ranges = append(ranges, r)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("memtrim: read maps: %w", err)
	}
	for _, r := range ranges {
		// Only r-xp and r--p mappings: a written private page (.data)
		// would be lost, a read-only one is found again in the file.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(r[0]), uintptr(r[1]-r[0]), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("memtrim: madvise: %w", errno)
		}
	}
	return nil
}

// readOnlyMapping parses one line of /proc/self/maps and reports the
// range of a private read-only mapping of exe.
func readOnlyMapping(line, exe string) ([2]uint64, bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 || strings.Join(fields[5:], " ") != exe {
		return [2]uint64{}, false
	}
	if perms := fields[1]; perms != "r-xp" && perms != "r--p" {
		return [2]uint64{}, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return [2]uint64{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return [2]uint64{}, false
	}
	return [2]uint64{start, end}, true
}
