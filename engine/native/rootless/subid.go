package rootless

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// IDRange is one line of a mapping: Size ids from Inside in the user
// namespace are Outside ones on the host.
type IDRange struct {
	Inside, Outside, Size uint32
}

// Mapping is a project's user namespace mapping.
type Mapping struct {
	UIDs, GIDs []IDRange
	// Single: the user has no subordinate range, so the namespace has
	// one id, its root, which is the user.
	Single bool
}

// SingleWarning says what a mapping without subordinate ids breaks.
const SingleWarning = "no subordinate id range for %s in /etc/subuid and /etc/subgid: containers get a single id (their root is you); " +
	"files an image gives other users become root's, and a container cannot switch users (add a range: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)"

// Lookup returns the mapping for the user name with uid and gid:
// container root is the user, and ids from 1 on are the user's first
// subordinate range of each kind.
func Lookup(name string, uid, gid int) (Mapping, error) {
	us, err := subIDs("/etc/subuid", name, uid)
	if err != nil {
		return Mapping{}, err
	}
	gs, err := subIDs("/etc/subgid", name, uid)
	if err != nil {
		return Mapping{}, err
	}
	m := Mapping{
		UIDs: []IDRange{{Inside: 0, Outside: uint32(uid), Size: 1}},
		GIDs: []IDRange{{Inside: 0, Outside: uint32(gid), Size: 1}},
	}
	if len(us) == 0 || len(gs) == 0 {
		m.Single = true
		return m, nil
	}
	m.UIDs = append(m.UIDs, IDRange{Inside: 1, Outside: us[0].start, Size: us[0].count})
	m.GIDs = append(m.GIDs, IDRange{Inside: 1, Outside: gs[0].start, Size: gs[0].count})
	return m, nil
}

type subRange struct{ start, count uint32 }

// subIDs reads the ranges of the user (by name or uid) in an
// /etc/subuid-like file; a missing file has none.
func subIDs(path, name string, uid int) ([]subRange, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := parseSubIDs(f, name, uid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// parseSubIDs reads "name-or-uid:start:count" lines; others are skipped,
// as shadow's tools skip them.
func parseSubIDs(r io.Reader, name string, uid int) ([]subRange, error) {
	var out []subRange
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.Itoa(uid)) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue
		}
		out = append(out, subRange{uint32(start), uint32(count)})
	}
	return out, sc.Err()
}

// args is the mapping as newuidmap's and newgidmap's arguments after the
// pid.
func args(rs []IDRange) []string {
	var out []string
	for _, r := range rs {
		out = append(out, strconv.FormatUint(uint64(r.Inside), 10), strconv.FormatUint(uint64(r.Outside), 10), strconv.FormatUint(uint64(r.Size), 10))
	}
	return out
}

// text is the mapping as /proc/<pid>/uid_map takes it.
func text(rs []IDRange) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%d %d %d\n", r.Inside, r.Outside, r.Size)
	}
	return b.String()
}
