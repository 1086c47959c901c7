package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux architecture hoist runs on.
const clockTicks = 100

// PsTitles are the columns of PidNamespace's rows: those of `ps -ef`,
// which Docker's top shows by default.
var PsTitles = []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}

// PidNamespace lists, as `ps -ef` rows sorted by pid, every process in
// the pid namespace of process pid (a container's init): the container's
// processes, with their pids as the host sees them.
func PidNamespace(pid int, now time.Time) ([][]string, error) {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		return nil, fmt.Errorf("pid namespace of %d: %w", pid, err)
	}
	boot, err := bootTime()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "pid")); err == nil && l == ns {
			pids = append(pids, p)
		}
	}
	slices.Sort(pids)
	users := map[int]string{}
	var rows [][]string
	for _, p := range pids {
		row, err := psRow(p, boot, now, users)
		if err != nil {
			continue // exited meanwhile
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func psRow(pid int, boot, now time.Time, users map[int]string) ([]string, error) {
	dir := fmt.Sprintf("/proc/%d", pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	open, close := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || close < open {
		return nil, errors.New("malformed /proc stat")
	}
	comm := string(stat[open+1 : close])
	f := strings.Fields(string(stat[close+1:])) // f[0] is field 3 (state)
	if len(f) < 20 {
		return nil, errors.New("malformed /proc stat")
	}
	num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	ppid, ttyNr := f[1], num(4)
	cpuTicks, startTicks := num(11)+num(12), num(19)
	uid := -1
	if status, err := os.ReadFile(dir + "/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if fs := strings.Fields(rest); len(fs) > 0 {
					uid, _ = strconv.Atoi(fs[0])
				}
			}
		}
	}
	name, ok := users[uid]
	if !ok {
		name = strconv.Itoa(uid)
		if u, err := user.LookupId(name); err == nil {
			name = u.Username
		}
		users[uid] = name
	}
	started := boot.Add(time.Duration(startTicks) * time.Second / clockTicks)
	elapsed := now.Sub(started).Seconds()
	c := 0
	if elapsed > 0 {
		c = int(float64(cpuTicks) / clockTicks / elapsed * 100)
	}
	stime := started.Format("15:04")
	if now.Sub(started) > 24*time.Hour {
		stime = started.Format("Jan02")
	}
	cpu := cpuTicks / clockTicks
	cmd := "[" + comm + "]"
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil && len(b) > 0 {
		cmd = strings.TrimSpace(strings.ReplaceAll(string(bytes.TrimRight(b, "\x00")), "\x00", " "))
	}
	return []string{name, strconv.Itoa(pid), ppid, strconv.Itoa(c), stime, tty(ttyNr),
		fmt.Sprintf("%02d:%02d:%02d", cpu/3600, cpu/60%60, cpu%60), cmd}, nil
}

// tty names a controlling terminal number as ps does ("?" for none).
func tty(nr uint64) string {
	if nr == 0 {
		return "?"
	}
	major, minor := (nr>>8)&0xfff, (nr&0xff)|((nr>>12)&0xfff00)
	if major >= 136 && major <= 143 {
		return "pts/" + strconv.FormatUint((major-136)*256+minor, 10)
	}
	return fmt.Sprintf("%d:%d", major, minor)
}

// bootTime is btime of /proc/stat.
func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return time.Time{}, err
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, errors.New("no btime in /proc/stat")
}
