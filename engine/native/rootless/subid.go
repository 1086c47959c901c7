package rootless

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/user"
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

// UserName is uid's login name (what /etc/subuid names), or the number
// when it has none.
func UserName(uid int) string {
	name := strconv.Itoa(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return name
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

// KeepID is m as the host sees a namespace under userns_mode keep-id
// (made by nesting one in a namespace of m: anchor_keepid.go), and an
// error when m cannot keep the ids. Under keep-id the user's own uid
// and gid are the same numbers inside as on the host, so that what a
// container writes to a bind mount as that id is the user's.
//
// The mapping is the project's (its anchor holds the one user namespace
// all its containers and its network live in), and the store's layers
// are shared by all the user's projects, unpacked with the plain mapping
// (inside k is the range's k-1th id, 0 is the user). So keep-id changes
// as little of that as it can: it swaps two ids and keeps every other.
// Inside uid is the user (on the host, uid), and inside 0 takes the
// host id the plain mapping gives inside uid (range start + uid - 1).
// Every file of an image keeps its owner inside but for those two: a
// file of the image's root shows as the user's id, which the
// container's root still may use (the id is mapped, so its capabilities
// reach it), and which keep-id's process, running as the user's id,
// owns. It needs a range (the container must have a root distinct from
// the user's id) that holds uid.
func (m Mapping) KeepID(uid, gid int) (Mapping, error) {
	if m.Single {
		return Mapping{}, fmt.Errorf("userns_mode keep-id needs a subordinate id range besides your own id (its root is one of the range's ids)")
	}
	us, err := keepID(m.UIDs, uint32(uid))
	if err != nil {
		return Mapping{}, fmt.Errorf("uid %d: %w", uid, err)
	}
	gs, err := keepID(m.GIDs, uint32(gid))
	if err != nil {
		return Mapping{}, fmt.Errorf("gid %d: %w", gid, err)
	}
	return Mapping{UIDs: us, GIDs: gs}, nil
}

// keepID swaps inside 0 and inside id of a plain mapping (0 -> the user,
// 1.. -> one subordinate range).
func keepID(rs []IDRange, id uint32) ([]IDRange, error) {
	if len(rs) != 2 || rs[0].Inside != 0 || rs[0].Size != 1 || rs[1].Inside != 1 {
		return nil, fmt.Errorf("keep-id: unexpected mapping %v", rs)
	}
	self, sub := rs[0].Outside, rs[1]
	if id == 0 || id > sub.Size {
		return nil, fmt.Errorf("keep-id: the id is outside the subordinate range's %d ids", sub.Size)
	}
	out := []IDRange{{Inside: 0, Outside: sub.Outside + id - 1, Size: 1}}
	if id > 1 {
		out = append(out, IDRange{Inside: 1, Outside: sub.Outside, Size: id - 1})
	}
	out = append(out, IDRange{Inside: id, Outside: self, Size: 1})
	if id < sub.Size {
		out = append(out, IDRange{Inside: id + 1, Outside: sub.Outside + id, Size: sub.Size - id})
	}
	return out, nil
}
