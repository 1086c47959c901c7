package etcfiles

import "strings"

// parseIP parses an IPv4 or IPv6 address literal (IPv6 with an optional
// zone), accepting exactly what net/netip.ParseAddr accepts (a fuzz test
// holds it to that), and reports whether it is a loopback address.
//
// It exists so that this package does not import net/netip: hoist run's
// fast path links this package, and runs from package initialisation (see
// cmd/hoist/fastrun). net/netip needs the unique and weak packages, which
// Go initialises only after every package whose path sorts before theirs
// and is ready, so linking it delays the fast path by most of hoist's
// package initialisation (~5 ms here).
func parseIP(s string) (ok, loopback bool) {
	if strings.IndexByte(s, ':') < 0 {
		b, ok := parse4(s)
		return ok, ok && b[0] == 127
	}
	if i := strings.IndexByte(s, '%'); i >= 0 {
		if i == len(s)-1 {
			return false, false // an empty zone
		}
		s = s[:i]
	}
	ip, ok := parse6(s)
	if !ok {
		return false, false
	}
	var zero [10]byte
	if [10]byte(ip[:10]) == zero && ip[10] == 0xff && ip[11] == 0xff {
		return true, ip[12] == 127 // an IPv4-mapped address
	}
	return true, [15]byte(ip[:15]) == [15]byte{} && ip[15] == 1
}

// parse4 parses a dotted decimal IPv4 address: four fields of 0 to 255,
// without leading zeros.
func parse4(s string) (ip [4]byte, ok bool) {
	fields := 0
	val, digits := 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || fields == 4 {
				return ip, false
			}
			ip[fields] = byte(val)
			fields++
			val, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || (digits == 1 && val == 0) {
			return ip, false
		}
		val = val*10 + int(c-'0')
		digits++
		if val > 255 {
			return ip, false
		}
	}
	return ip, fields == 4
}

// parse6 parses an IPv6 address without zone: up to eight groups of one
// to four hex digits, one "::" standing for one or more zero groups, and
// an IPv4 address in place of the last two groups.
func parse6(s string) (ip [16]byte, ok bool) {
	ellipsis := -1 // where "::" was, in bytes of ip
	if strings.HasPrefix(s, "::") {
		ellipsis, s = 0, s[2:]
	}
	i := 0
	for s != "" && i < 16 {
		n := 0
		off := 0
		for n < len(s) && n < 5 && hexVal(s[n]) >= 0 {
			off = off<<4 | hexVal(s[n])
			n++
		}
		if n < len(s) && s[n] == '.' {
			if ellipsis < 0 && i != 12 || i > 12 {
				return ip, false
			}
			b, ok := parse4(s)
			if !ok {
				return ip, false
			}
			copy(ip[i:], b[:])
			i, s = i+4, ""
			break
		}
		if n == 0 || n > 4 {
			return ip, false
		}
		ip[i], ip[i+1] = byte(off>>8), byte(off)
		i += 2
		s = s[n:]
		if s == "" {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return ip, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return ip, false
			}
			ellipsis, s = i, s[1:]
		}
	}
	if s != "" {
		return ip, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return ip, false
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return ip, false // "::" must stand for at least one group
	}
	return ip, true
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
