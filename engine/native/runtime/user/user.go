// Package user resolves the user a container's process runs as, as
// Docker does, from the container's own /etc/passwd and /etc/group: its
// uid, gid, supplementary groups and home. It runs inside the container
// (the init, the exec helper, the copy helper, with "/" already the
// container's root) and needs nothing but the standard library, so the
// init binary stays small.
package user

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// User is a resolved user.
type User struct {
	UID, GID int
	Groups   []int
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid int
	home     string
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

// readColonFile reads /etc/passwd-style lines; a missing file is empty.
func readColonFile(path string, minFields int) ([][]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) >= minFields {
			out = append(out, fields)
		}
	}
	return out, sc.Err()
}

// Resolve resolves spec ("", "name", "uid", "name:group", "uid:gid")
// against etc/passwd and etc/group below root, as Docker does: a numeric
// user need not exist, a name must; supplementary groups are the primary
// group, the groups that list the user, plus groupAdd.
func Resolve(root, spec string, groupAdd []string) (User, error) {
	var lines [][]string
	users, err := readColonFile(filepath.Join(root, "etc/passwd"), 7)
	if err != nil {
		return User{}, fmt.Errorf("read /etc/passwd: %w", err)
	}
	lines, err = readColonFile(filepath.Join(root, "etc/group"), 4)
	if err != nil {
		return User{}, fmt.Errorf("read /etc/group: %w", err)
	}
	var groups []groupEntry
	for _, l := range lines {
		gid, err := strconv.Atoi(l[2])
		if err != nil {
			continue
		}
		var members []string
		if l[3] != "" {
			members = strings.Split(l[3], ",")
		}
		groups = append(groups, groupEntry{name: l[0], gid: gid, members: members})
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	u := User{Home: "/"}
	var entry *passwdEntry
	for _, l := range users {
		uid, err1 := strconv.Atoi(l[2])
		gid, err2 := strconv.Atoi(l[3])
		if err1 != nil || err2 != nil {
			continue
		}
		if l[0] == userPart || strconv.Itoa(uid) == userPart {
			entry = &passwdEntry{name: l[0], uid: uid, gid: gid, home: l[5]}
			break
		}
	}
	switch {
	case entry != nil:
		u.UID, u.GID, u.Home = entry.uid, entry.gid, entry.home
	default:
		uid, err := strconv.Atoi(userPart)
		if err != nil || uid < 0 {
			return User{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		u.UID, u.GID = uid, uid
		if uid != 0 {
			u.GID = 0
		}
	}
	findGroup := func(g string) (int, error) {
		for _, e := range groups {
			if e.name == g || strconv.Itoa(e.gid) == g {
				return e.gid, nil
			}
		}
		gid, err := strconv.Atoi(g)
		if err != nil || gid < 0 {
			return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", g)
		}
		return gid, nil
	}
	if hasGroup {
		gid, err := findGroup(groupPart)
		if err != nil {
			return User{}, err
		}
		u.GID = gid
	} else if entry != nil {
		for _, e := range groups {
			for _, m := range e.members {
				if m == entry.name && e.gid != u.GID {
					u.Groups = append(u.Groups, e.gid)
				}
			}
		}
	}
	// The primary group is a supplementary group too, as Docker (since
	// 20.10.24) gives it, so that dropping to it is never a way out of a
	// group the process was given.
	u.Groups = append([]int{u.GID}, u.Groups...)
	for _, g := range groupAdd {
		gid, err := findGroup(g)
		if err != nil {
			return User{}, err
		}
		u.Groups = append(u.Groups, gid)
	}
	return u, nil
}
