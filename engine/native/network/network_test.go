package network

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/hoist-dev/hoist/engine/native/network/nettest"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The root tests run in a network namespace of their own (nettest.Main):
// all traffic stays between namespaces they create.
func TestMain(m *testing.M) { os.Exit(nettest.Main(m)) }

type env struct {
	t    *testing.T
	dir  string
	opts Options
	m    *Manager
}

// newEnv is a Manager on temporary directories; every project it names
// is torn down at the end, whatever happened.
func newEnv(t *testing.T, projects ...string) *env {
	t.Helper()
	nettest.Root(t)
	dir := t.TempDir()
	opts := Options{RunDir: filepath.Join(dir, "run"), AllocFile: filepath.Join(dir, "lib", "subnets.json")}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range projects {
			if err := m.Teardown(context.Background(), p); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return &env{t: t, dir: dir, opts: opts, m: m}
}

func (e *env) network(project, name string, internal bool) Network {
	e.t.Helper()
	n, err := e.m.EnsureNetwork(context.Background(), NetSpec{Name: name, Project: project, Internal: internal})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) attach(project, container string, nets ...NetworkAttachment) Attachment {
	e.t.Helper()
	a, err := e.m.Attach(context.Background(), AttachSpec{Project: project, Container: container, Hostname: container, Networks: nets})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func on(name string, aliases ...string) NetworkAttachment {
	return NetworkAttachment{Name: name, Aliases: aliases}
}

// tcpRoundTrip listens on to's address inside server's namespace and
// dials it from client's namespace.
func tcpRoundTrip(t *testing.T, client, server string, to netip.Addr) {
	t.Helper()
	var ln net.Listener
	if err := nettest.Do(server, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(to, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var c net.Conn
	if err := nettest.Do(client, func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("connect %s from %s: %v", ln.Addr(), filepath.Base(client), err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(c, "hello")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Fatalf("echo via %s: %q, %v", ln.Addr(), line, err)
	}
}

func defaultRoute(t *testing.T, nsPath string) (netip.Addr, bool) {
	t.Helper()
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			gw, _ := netip.AddrFromSlice(r.Gw.To4())
			return gw, true
		}
	}
	return netip.Addr{}, false
}

func hostsOf(t *testing.T, e *env, project, container string) string {
	t.Helper()
	b, err := os.ReadFile(e.m.HostsFile(project, container))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// linesWith are the hosts lines naming name.
func linesWith(hosts, name string) []string {
	var out []string
	for _, l := range strings.Split(hosts, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		for _, n := range f[min(1, len(f)):] {
			if n == name {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

func TestTwoContainersTalk(t *testing.T) {
	e := newEnv(t, "p1")
	n := e.network("p1", "p1_default", false)
	if !strings.HasPrefix(n.Bridge, "hoist-") || len(n.Bridge) != 15 {
		t.Errorf("bridge name %q", n.Bridge)
	}
	a := e.attach("p1", "p1-a-1", on("p1_default", "a"))
	b := e.attach("p1", "p1-b-1", on("p1_default", "b"))
	ipa, ipb := a.IPs["p1_default"], b.IPs["p1_default"]
	if !n.Subnet.Contains(ipa) || !n.Subnet.Contains(ipb) || ipa == ipb || ipa == n.Gateway {
		t.Fatalf("subnet %s gateway %s: a %s b %s", n.Subnet, n.Gateway, ipa, ipb)
	}
	tcpRoundTrip(t, a.NetnsPath, b.NetnsPath, ipb)
	tcpRoundTrip(t, b.NetnsPath, a.NetnsPath, ipa)
	if _, err := exec.LookPath("ping"); err == nil {
		out, err := exec.Command("nsenter", "--net="+a.NetnsPath, "ping", "-c1", "-W5", ipb.String()).CombinedOutput()
		if err != nil {
			t.Errorf("ping %s from a: %v\n%s", ipb, err, out)
		}
	}
	if gw, ok := defaultRoute(t, a.NetnsPath); !ok || gw != n.Gateway {
		t.Errorf("default route of a: %v %v, want via %s", gw, ok, n.Gateway)
	}
	// b resolves a by container name and alias.
	if got := linesWith(hostsOf(t, e, "p1", "p1-b-1"), "a"); len(got) != 1 || !strings.HasPrefix(got[0], ipa.String()+"\t") {
		t.Errorf("b's hosts lines for a: %q", got)
	}
	// Idempotent.
	if n2 := e.network("p1", "p1_default", false); n2 != n {
		t.Errorf("EnsureNetwork again: %+v, want %+v", n2, n)
	}
}

func TestInternalNetworkHasNoDefaultRoute(t *testing.T) {
	e := newEnv(t, "p2")
	n := e.network("p2", "p2_back", true)
	a := e.attach("p2", "p2-db-1", on("p2_back", "db"))
	if gw, ok := defaultRoute(t, a.NetnsPath); ok {
		t.Errorf("internal network: default route via %s", gw)
	}
	if a.Gateway.IsValid() {
		t.Errorf("Attachment.Gateway = %s", a.Gateway)
	}
	rules := listRules(t, "p2")
	if len(rules["postrouting"]) != 0 || len(rules["forward"]) != 2 {
		t.Errorf("internal network rules: %d postrouting, %d forward", len(rules["postrouting"]), len(rules["forward"]))
	}
	// Still reachable within the network, from a second container.
	b := e.attach("p2", "p2-app-1", on("p2_back"))
	tcpRoundTrip(t, b.NetnsPath, a.NetnsPath, a.IPs[n.Name])
}

func TestProjectsAreSeparate(t *testing.T) {
	e := newEnv(t, "pa", "pb")
	na := e.network("pa", "pa_default", false)
	nb := e.network("pb", "pb_default", false)
	if na.Subnet.Overlaps(nb.Subnet) {
		t.Fatalf("subnets overlap: %s %s", na.Subnet, nb.Subnet)
	}
	e.attach("pa", "pa-web-1", on("pa_default", "web"))
	e.attach("pa", "pa-db-1", on("pa_default", "db"))
	e.attach("pb", "pb-web-1", on("pb_default", "web"))
	e.attach("pb", "pb-db-1", on("pb_default", "db"))
	for _, p := range []struct{ project, other string }{{"pa", "pb"}, {"pb", "pa"}} {
		h := hostsOf(t, e, p.project, p.project+"-web-1")
		if strings.Contains(h, p.other+"-") {
			t.Errorf("%s's hosts file names %s's containers:\n%s", p.project, p.other, h)
		}
		if len(linesWith(h, "db")) != 1 {
			t.Errorf("%s's hosts file: db lines %q", p.project, linesWith(h, "db"))
		}
	}
	// A second Manager (another process) sees the allocation too.
	m2, _ := New(e.opts)
	if _, err := m2.EnsureNetwork(context.Background(), NetSpec{Name: "pa_default", Project: "pb"}); err == nil {
		t.Error("pb took pa's network name")
	}
	// Tearing pb down leaves pa alone.
	if err := m2.Teardown(context.Background(), "pb"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(na.Bridge); err != nil {
		t.Errorf("pa's bridge after pb's teardown: %v", err)
	}
	if _, err := os.Stat(e.m.NetnsPath("pa", "pa-web-1")); err != nil {
		t.Errorf("pa's netns after pb's teardown: %v", err)
	}
	if len(listRules(t, "pa")["postrouting"]) != 1 {
		t.Error("pa's rules gone after pb's teardown")
	}
}

func TestRecreatedContainerKeepsIP(t *testing.T) {
	e := newEnv(t, "p3")
	e.network("p3", "p3_default", false)
	ctx := context.Background()
	x := e.attach("p3", "p3-x-1", on("p3_default"))
	y := e.attach("p3", "p3-y-1", on("p3_default"))
	if err := e.m.Detach(ctx, "p3", "p3-y-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(y.NetnsPath); !os.IsNotExist(err) {
		t.Errorf("netns after Detach: %v", err)
	}
	if h := hostsOf(t, e, "p3", "p3-x-1"); strings.Contains(h, "p3-y-1") {
		t.Errorf("x still resolves detached y:\n%s", h)
	}
	z := e.attach("p3", "p3-z-1", on("p3_default"))
	if z.IPs["p3_default"] == y.IPs["p3_default"] {
		t.Errorf("z took detached y's address %s", y.IPs["p3_default"])
	}
	y2 := e.attach("p3", "p3-y-1", on("p3_default"))
	if y2.IPs["p3_default"] != y.IPs["p3_default"] {
		t.Errorf("recreated y: %s, was %s", y2.IPs["p3_default"], y.IPs["p3_default"])
	}
	// Attach again without Detach replaces the attachment, same address.
	x2 := e.attach("p3", "p3-x-1", on("p3_default"))
	if x2.IPs["p3_default"] != x.IPs["p3_default"] {
		t.Errorf("re-attached x: %s, was %s", x2.IPs["p3_default"], x.IPs["p3_default"])
	}
	tcpRoundTrip(t, x2.NetnsPath, y2.NetnsPath, y2.IPs["p3_default"])
	// A static address held by an attached container is refused.
	_, err := e.m.Attach(ctx, AttachSpec{Project: "p3", Container: "p3-s-1",
		Networks: []NetworkAttachment{{Name: "p3_default", IPv4: x.IPs["p3_default"]}}})
	if err == nil {
		t.Error("static address of an attached container was given out")
	}
}

func TestScaledServiceHasSeveralEntries(t *testing.T) {
	e := newEnv(t, "p4")
	e.network("p4", "p4_default", false)
	w1 := e.attach("p4", "p4-web-1", on("p4_default", "web"))
	w2 := e.attach("p4", "p4-web-2", on("p4_default", "web"))
	e.attach("p4", "p4-client-1", on("p4_default", "client"))
	got := linesWith(hostsOf(t, e, "p4", "p4-client-1"), "web")
	want := []string{w1.IPs["p4_default"].String() + "\tp4-web-1 web", w2.IPs["p4_default"].String() + "\tp4-web-2 web"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("client's web lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestTwoNetworksAndExtraHosts(t *testing.T) {
	e := newEnv(t, "p5")
	front := e.network("p5", "p5_front", false)
	back := e.network("p5", "p5_back", true)
	a, err := e.m.Attach(context.Background(), AttachSpec{Project: "p5", Container: "p5-app-1", Hostname: "app",
		Networks:   []NetworkAttachment{on("p5_back", "app"), on("p5_front", "app")},
		ExtraHosts: []string{"host.docker.internal:host-gateway", "static=10.9.8.7"}})
	if err != nil {
		t.Fatal(err)
	}
	db := e.attach("p5", "p5-db-1", on("p5_back", "db"))
	// The default route goes via the first non-internal network.
	if gw, ok := defaultRoute(t, a.NetnsPath); !ok || gw != front.Gateway {
		t.Errorf("default route %v %v, want via %s", gw, ok, front.Gateway)
	}
	h := hostsOf(t, e, "p5", "p5-app-1")
	for _, want := range []string{back.Gateway.String() + "\thost.docker.internal\n", "10.9.8.7\tstatic\n",
		a.IPs["p5_back"].String() + "\tapp p5-app-1\n", db.IPs["p5_back"].String() + "\tp5-db-1 db\n"} {
		if !strings.Contains(h, want) {
			t.Errorf("hosts file lacks %q:\n%s", want, h)
		}
	}
	tcpRoundTrip(t, db.NetnsPath, a.NetnsPath, a.IPs["p5_back"])
	if err := e.m.RemoveNetwork(context.Background(), "p5", "p5_back"); err == nil {
		t.Error("RemoveNetwork with containers attached succeeded")
	}
}

// listRules lists project's table by chain, nil when there is no table.
func listRules(t *testing.T, project string) map[string][]*nftables.Rule {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name != TableName(project) {
			continue
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]*nftables.Rule{}
		for _, ch := range chains {
			if ch.Table.Name != tb.Name {
				continue
			}
			rs, err := c.GetRules(tb, ch)
			if err != nil {
				t.Fatal(err)
			}
			out[ch.Name] = rs
		}
		return out
	}
	return nil
}

func TestNATRules(t *testing.T) {
	e := newEnv(t, "p6")
	n1 := e.network("p6", "p6_default", false)
	e.network("p6", "p6_other", false)
	rules := listRules(t, "p6")
	if len(rules["postrouting"]) != 2 || len(rules["forward"]) != 8 {
		t.Fatalf("rules: %d postrouting, %d forward", len(rules["postrouting"]), len(rules["forward"]))
	}
	masq := 0
	for _, r := range rules["postrouting"] {
		for _, x := range r.Exprs {
			if _, ok := x.(*expr.Masq); ok {
				masq++
			}
		}
	}
	if masq != 2 {
		t.Errorf("%d masquerade rules, want 2", masq)
	}
	if out, err := exec.Command("nft", "list", "table", "ip", TableName("p6")).CombinedOutput(); err == nil {
		s := string(out)
		for _, want := range []string{"ip saddr " + n1.Subnet.String(), `oifname != "hoist-*" masquerade`, `iifname "` + n1.Bridge + `" accept`,
			`iifname "` + n1.Bridge + `" oifname "hoist-*" oifname != "` + n1.Bridge + `" drop`} {
			if !strings.Contains(s, want) {
				t.Errorf("nft list lacks %q:\n%s", want, s)
			}
		}
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("ip_forward = %q", b)
	}
	if err := e.m.RemoveNetwork(context.Background(), "p6", "p6_other"); err != nil {
		t.Fatal(err)
	}
	if rules := listRules(t, "p6"); len(rules["postrouting"]) != 1 {
		t.Errorf("after removing one network: %d postrouting rules", len(rules["postrouting"]))
	}
	if err := e.m.RemoveNetwork(context.Background(), "p6", "p6_default"); err != nil {
		t.Fatal(err)
	}
	if rules := listRules(t, "p6"); rules != nil {
		t.Errorf("table left after removing every network: %v", rules)
	}
	if _, err := netlink.LinkByName(n1.Bridge); err == nil {
		t.Error("bridge left after RemoveNetwork")
	}
}

func TestTeardownFromStateFilesAlone(t *testing.T) {
	e := newEnv(t, "p7", "p7b")
	e.network("p7", "p7_default", false)
	e.network("p7", "p7_back", true)
	e.attach("p7", "p7-web-1", on("p7_default", "web"), on("p7_back"))
	e.attach("p7", "p7-web-2", on("p7_default", "web"))
	e.attach("p7", "p7-db-1", on("p7_back", "db"))
	e.network("p7b", "p7b_default", false)
	other := e.attach("p7b", "p7b-web-1", on("p7b_default", "web"))

	// Another process: a fresh Manager on the same files.
	m2, err := New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Teardown(context.Background(), "p7"); err != nil {
		t.Fatal(err)
	}
	checkClean(t, e, "p7", "p7b")
	if _, err := os.Stat(other.NetnsPath); err != nil {
		t.Errorf("other project's netns: %v", err)
	}
	if err := m2.Teardown(context.Background(), "p7b"); err != nil {
		t.Fatal(err)
	}
	checkClean(t, e, "p7b", "")
	// Teardown of a torn-down project is a no-op.
	if err := m2.Teardown(context.Background(), "p7"); err != nil {
		t.Error(err)
	}
	checkClean(t, e, "p7", "")
}

// checkClean asserts project left nothing: no links, netns files, table
// or mounts; when other is set, it must still have its own.
func checkClean(t *testing.T, e *env, project, other string) {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	hoistLinks := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "hoist") || strings.Contains(l, ": hv") {
			if other == "" || !strings.Contains(l, "hoist:"+other+"/") && !strings.Contains(l, "alias") {
				hoistLinks++
			}
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, aliasPrefix(project)) {
			t.Errorf("link %s (%s) left", l.Attrs().Name, l.Attrs().Alias)
		}
	}
	if other == "" && hoistLinks > 0 {
		t.Errorf("ip -o link shows hoist links:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(e.opts.RunDir, project, "net")); !os.IsNotExist(err) {
		t.Errorf("state dir of %s: %v", project, err)
	}
	if listRules(t, project) != nil {
		t.Errorf("nft table %s left", TableName(project))
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, filepath.Join(e.opts.RunDir, project)+"/") {
			t.Errorf("mount left: %s", l)
		}
	}
	if other != "" && listRules(t, other) == nil {
		t.Errorf("table of %s gone", other)
	}
	// The allocation file as it is on disk (not as readAlloc filters it):
	// no lease of project's is left there.
	if raw, err := os.ReadFile(e.opts.AllocFile); err == nil && strings.Contains(string(raw), `"project": "`+project+`"`) {
		t.Errorf("subnet lease of %s left in %s:\n%s", project, e.opts.AllocFile, raw)
	}
}

// TestRemoveNetworkReleasesSubnet: removing a project's networks one by
// one (as down does) takes their leases out of the allocation file on
// disk, not only out of what a reader of it sees; another project's
// lease stays.
func TestRemoveNetworkReleasesSubnet(t *testing.T) {
	e := newEnv(t, "p9", "p9b")
	e.network("p9", "p9_default", false)
	e.network("p9", "p9_back", true)
	e.network("p9b", "p9b_default", false)
	for _, n := range []string{"p9_back", "p9_default"} {
		if err := e.m.RemoveNetwork(context.Background(), "p9", n); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(e.opts.AllocFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "p9_") {
		t.Errorf("removed networks' leases left in the allocation file:\n%s", raw)
	}
	if !strings.Contains(string(raw), `"p9b_default"`) {
		t.Errorf("another project's lease gone:\n%s", raw)
	}
	if err := e.m.Teardown(context.Background(), "p9"); err != nil {
		t.Fatal(err)
	}
	checkClean(t, e, "p9", "p9b")
}

// TestTeardownAfterLostRecords: a crash lost a container's record; its
// veth (tagged with the project) and namespace file still go.
func TestTeardownAfterLostRecords(t *testing.T) {
	e := newEnv(t, "p8")
	e.network("p8", "p8_default", false)
	a := e.attach("p8", "p8-web-1", on("p8_default"))
	if err := os.Remove(e.m.ctrPath("p8", "p8-web-1")); err != nil {
		t.Fatal(err)
	}
	veth := vethName("p8", "p8-web-1", "p8_default")
	if _, err := netlink.LinkByName(veth); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Teardown(context.Background(), "p8"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(veth); err == nil {
		t.Errorf("veth %s left", veth)
	}
	if _, err := os.Stat(a.NetnsPath); !os.IsNotExist(err) {
		t.Errorf("netns file: %v", err)
	}
	checkClean(t, e, "p8", "")
}

// TestNetnsMountPropagates: a container's mount namespace (a copy of the
// host's) loses its copy of the netns bind mount when Detach removes the
// file, so the namespace is really freed.
func TestNetnsMountPropagates(t *testing.T) {
	e := newEnv(t, "p9")
	e.network("p9", "p9_default", false)
	a := e.attach("p9", "p9-web-1", on("p9_default"))
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("unshare:", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	mountinfo := func() string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", cmd.Process.Pid))
		return string(b)
	}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	deadline := time.Now().Add(5 * time.Second)
	for { // until unshare has made its mount namespace and exec'd sleep
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if ns != "" && ns != self && strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(mountinfo(), a.NetnsPath) {
		t.Fatalf("the copy never had the netns mount:\n%s", mountinfo())
	}
	if err := e.m.Detach(context.Background(), "p9", "p9-web-1"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mountinfo(), a.NetnsPath) {
		t.Errorf("the netns mount survives in a slave mount namespace")
	}
}

// Docker's FORWARD DROP (in this test's own network namespace): bridged
// traffic between containers still flows, through the accept rules
// allowForward adds, and Teardown removes them.
func TestForwardDropPolicy(t *testing.T) {
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("no iptables")
	}
	e := newEnv(t, "fw")
	// This creates the filter table in the test's namespace, as dockerd
	// would on a host.
	if out, err := iptablesCmd("-P", "FORWARD", "DROP"); err != nil {
		t.Fatalf("iptables -P FORWARD DROP: %v: %s", err, out)
	}
	if iptablesMissing() {
		t.Fatal("iptables state not found after setting the FORWARD policy")
	}
	t.Cleanup(func() { iptablesCmd("-P", "FORWARD", "ACCEPT") })
	e.network("fw", "fw_default", false)
	a := e.attach("fw", "fw-a-1", on("fw_default", "a"))
	b := e.attach("fw", "fw-b-1", on("fw_default", "b"))
	tcpRoundTrip(t, a.NetnsPath, b.NetnsPath, b.IPs["fw_default"])
	out, _ := iptablesCmd("-S", "FORWARD")
	if n := strings.Count(string(out), "hoist:fw"); n != 2 {
		t.Errorf("FORWARD has %d hoist rules, want 2:\n%s", n, out)
	}
	// RemoveNetwork deletes the rules from the chain it recorded.
	e.network("fw", "fw_other", false)
	var st netState
	if err := readJSON(e.m.netPath("fw", "fw_other"), &st); err != nil || st.Forward == nil || *st.Forward != "FORWARD" {
		t.Fatalf("recorded chain %v (%v)", st.Forward, err)
	}
	if out, _ := iptablesCmd("-S", "FORWARD"); strings.Count(string(out), "hoist:fw") != 4 {
		t.Errorf("FORWARD with two networks:\n%s", out)
	}
	if err := e.m.RemoveNetwork(context.Background(), "fw", "fw_other"); err != nil {
		t.Fatal(err)
	}
	if out, _ := iptablesCmd("-S", "FORWARD"); strings.Count(string(out), "hoist:fw") != 2 || strings.Contains(string(out), st.Bridge) {
		t.Errorf("FORWARD after RemoveNetwork:\n%s", out)
	}
	if err := e.m.Teardown(context.Background(), "fw"); err != nil {
		t.Fatal(err)
	}
	out, _ = iptablesCmd("-S", "FORWARD")
	if strings.Contains(string(out), "hoist:fw") {
		t.Errorf("rules left after Teardown:\n%s", out)
	}
}
