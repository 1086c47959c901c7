package rootnet

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestNoLeaks carries traffic of every kind through handles of its own,
// closes them, and checks that goroutines and fds are back to what they
// were, that no thread of this process is left in the project's
// namespace, and that the outbound table is gone from it.
func TestNoLeaks(t *testing.T) {
	requireNative(t)
	tp := newTopology(t)
	sum := serveSum(t, tp)
	name, want := "app.rootnet.test.", netip.MustParseAddr("192.0.2.77")
	upstream := dnsServer(t, name, want)
	out := hostListener(t, hostAddr(t))
	go func() {
		for {
			c, err := out.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}
	}()

	round := func() {
		ns, err := Open(tp.P.Path())
		if err != nil {
			t.Fatal(err)
		}
		cn, err := Open(tp.C.Path()) // the containers' side of the traffic
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
		if err != nil {
			t.Fatal(err)
		}
		uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 2)
		go func() { served <- PublishTCP(ctx, ns, ln, sum) }()
		go func() { served <- PublishUDP(ctx, ns, uc, netip.AddrPortFrom(gateway, 53), 0) }()
		o, err := StartOutbound(ctx, ns, []netip.Prefix{subnet})
		if err != nil {
			t.Fatal(err)
		}
		d, err := StartDNS(ctx, ns, gateway, []netip.AddrPort{upstream})
		if err != nil {
			t.Fatal(err)
		}
		if !tableExists(t, ns) {
			t.Fatal("no outbound table while Outbound runs")
		}

		for range 3 {
			c, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
			if err != nil {
				t.Fatal(err)
			}
			sendSum(t, c, 1<<20)
			c.Close()
		}
		// A DNS query through the published UDP port, on to the forwarder
		// on the gateway, on to the upstream: both UDP carriers at once.
		qc, err := net.DialUDP("udp4", nil, uc.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		qc.Write(query(t, 7, name))
		qc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		n, err := qc.Read(buf)
		if err != nil {
			t.Fatal("no answer through the published UDP port and the forwarder: ", err)
		}
		if got := answerA(t, 7, buf[:n]); got != want {
			t.Fatalf("answer %s, want %s", got, want)
		}
		qc.Close()
		tc, err := cn.Dial(ctx, "tcp", netip.AddrPortFrom(gateway, 53))
		if err != nil {
			t.Fatal(err)
		}
		q := query(t, 8, name)
		tc.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...))
		tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := readTCPMsg(tc); err != nil {
			t.Fatal("DNS over TCP: ", err)
		}
		// Outbound, left open on purpose: Close must end it.
		oc, err := cn.Dial(ctx, "tcp", out.Addr().(*net.TCPAddr).AddrPort())
		if err != nil {
			t.Fatal(err)
		}
		oc.Write([]byte("echo"))
		oc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(oc, make([]byte, 4)); err != nil {
			t.Fatal("outbound echo: ", err)
		}

		if err := o.Close(); err != nil {
			t.Error(err)
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		cancel()
		for range 2 {
			if err := <-served; err != nil {
				t.Error(err)
			}
		}
		if n, err := oc.Read(make([]byte, 1)); err == nil {
			t.Errorf("the outbound connection lives on after Close (%d bytes)", n)
		}
		oc.Close()
		tc.Close()
		if tableExists(t, ns) {
			t.Error("the outbound table is still in the project's namespace after Close")
		}
		ns.Close()
		cn.Close()
	}

	round() // warm up what the runtime keeps (poller, timers, threads)
	runtime.GC()
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	for range 2 {
		round()
	}
	ino := nsInode(t, tp.P.Path())
	var g, fds int
	var in []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		g, fds, in = runtime.NumGoroutine(), openFDs(t), threadsIn(t, ino)
		if g <= g0 && fds <= fd0 && len(in) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g > g0 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines, %d before:\n%s", g, g0, buf[:runtime.Stack(buf, true)])
	}
	if fds > fd0 {
		t.Errorf("%d open fds, %d before", fds, fd0)
	}
	if len(in) > 0 {
		t.Errorf("threads %v are still in the project's namespace", in)
	}
}

func openFDs(t testing.TB) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func nsInode(t testing.TB, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// threadsIn lists this process's threads in the network namespace ino.
func threadsIn(t testing.TB, ino uint64) []string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var in []string
	for _, e := range tasks {
		l, err := os.Readlink(filepath.Join("/proc/self/task", e.Name(), "ns/net"))
		if err == nil && strings.TrimSpace(l) == fmt.Sprintf("net:[%d]", ino) {
			in = append(in, e.Name())
		}
	}
	return in
}
