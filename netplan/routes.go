package netplan

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// HostRoutes lists the prefixes the host already routes (IPv4 and IPv6),
// sorted, without default routes: a network placed on one of them would
// shadow or be shadowed by it. It reads /proc, so it is Linux only; a host
// without IPv6 simply has no IPv6 routes.
func HostRoutes() ([]netip.Prefix, error) { return RoutesIn("/proc/net") }

// RoutesIn is HostRoutes from procNet, a /proc/<pid>/net dir: the routes
// of that process's network namespace (a rootless project's CLI, in the
// project's namespace, reads its anchor's, which is the host's).
func RoutesIn(procNet string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range []struct {
		path  string
		parse func(io.Reader) ([]netip.Prefix, error)
	}{{procNet + "/route", parseRoutes4}, {procNet + "/ipv6_route", parseRoutes6}} {
		file, err := os.Open(f.path)
		if errors.Is(err, fs.ErrNotExist) && f.path != procNet+"/route" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read host routes: %w", err)
		}
		ps, err := f.parse(file)
		file.Close()
		if err != nil {
			return nil, fmt.Errorf("read host routes from %s: %w", f.path, err)
		}
		out = append(out, ps...)
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out), nil
}

// parseRoutes4 reads /proc/net/route: a header, then tab-separated lines
// whose Destination (field 2) and Mask (field 8) are 32-bit hex numbers in
// the kernel's native byte order.
func parseRoutes4(r io.Reader) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if line == 1 || len(f) == 0 {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 8", line, len(f))
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %d: bad destination %q or mask %q", line, f[1], f[7])
		}
		var d, m [4]byte
		binary.NativeEndian.PutUint32(d[:], uint32(dst))
		binary.NativeEndian.PutUint32(m[:], uint32(mask))
		ones := bits.OnesCount32(binary.BigEndian.Uint32(m[:]))
		if binary.BigEndian.Uint32(m[:]) != ^uint32(0)<<(32-ones) && ones != 0 {
			return nil, fmt.Errorf("line %d: mask %q is not contiguous", line, f[7])
		}
		if ones == 0 {
			continue // default route: it covers everything and blocks nothing
		}
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(d), ones).Masked())
	}
	return out, sc.Err()
}

// parseRoutes6 reads /proc/net/ipv6_route: space-separated lines starting
// with the destination as 32 hex digits and its prefix length in hex.
func parseRoutes6(r io.Reader) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("line %d: %d fields, want 10", line, len(f))
		}
		raw, err1 := hex.DecodeString(f[0])
		plen, err2 := strconv.ParseUint(f[1], 16, 8)
		if err1 != nil || err2 != nil || len(raw) != 16 || plen > 128 {
			return nil, fmt.Errorf("line %d: bad destination %q/%q", line, f[0], f[1])
		}
		if plen == 0 {
			continue
		}
		out = append(out, netip.PrefixFrom(netip.AddrFrom16([16]byte(raw)), int(plen)).Masked())
	}
	return out, sc.Err()
}
