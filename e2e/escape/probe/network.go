package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Network cases. Traffic goes only where the test points it: another
// project's container (-peer), a listener of the test's on the host's
// 127.0.0.1 (-hostlo) and the engines' own sockets.

func init() {
	cases["tcp_peer"] = tcpPeer
	cases["tcp_hostlo"] = tcpHostLo
	cases["supervisor_sock"] = func(o *opts) result { return unixConnect(o.sup) }
	cases["docker_sock"] = func(*opts) result { return unixConnect("/var/run/docker.sock") }
	cases["containerd_sock"] = func(*opts) result { return unixConnect("/run/containerd/containerd.sock") }
	cases["abstract_sockets"] = abstractSockets
}

func tcpPeer(o *opts) result {
	if o.peer == "" {
		return result{Outcome: "error", Detail: "tcp_peer needs -peer"}
	}
	c, err := net.DialTimeout("tcp", o.peer, 2*time.Second)
	if err != nil {
		return denied("connect "+o.peer, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return allowed("connected to %s: %q", o.peer, line)
}

// tcpHostLo connects to the test's listener on the host's 127.0.0.1
// (-hostlo) and says who it is (-nonce), so the host side knows which
// way reached it. In a network namespace of the container's own,
// 127.0.0.1 is the container's loopback, where nothing listens on that
// port: the connection is refused (ECONNREFUSED), which is the denial. A
// connection means the host's loopback (or something of the container's
// own on that port: the detail holds the greeting, and the host side's
// record of who connected is the verdict).
func tcpHostLo(o *opts) result {
	if o.hostlo == "" {
		return result{Outcome: "error", Detail: "tcp_hostlo needs -hostlo"}
	}
	c, err := net.DialTimeout("tcp", o.hostlo, 2*time.Second)
	if err != nil {
		return denied("connect "+o.hostlo, err)
	}
	defer c.Close()
	fmt.Fprintln(c, o.nonce)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return allowed("connected to %s: %q", o.hostlo, line)
}

func unixConnect(path string) result {
	if path == "" {
		return result{Outcome: "error", Detail: "no socket path given"}
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return denied("connect "+path, err)
	}
	c.Close()
	return allowed("connected to %s", path)
}

// abstractSockets connects to every abstract unix socket in this network
// namespace whose name matches -abstract (the engines' own: a container
// with network_mode: host shares the host's abstract namespace). It
// connects and closes; nothing is sent.
func abstractSockets(o *opts) result {
	re, err := regexp.Compile(o.abstrRE)
	if err != nil {
		return result{Outcome: "error", Detail: err.Error()}
	}
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return denied("open /proc/net/unix", err)
	}
	defer f.Close()
	var tried, reached []string
	var last error
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || !strings.HasPrefix(fields[7], "@") {
			continue
		}
		name := fields[7]
		if seen[name] || !re.MatchString(name) {
			continue
		}
		seen[name] = true
		tried = append(tried, name)
		c, err := net.DialTimeout("unix", "\x00"+name[1:], 2*time.Second)
		if err != nil {
			last = err
			continue
		}
		c.Close()
		reached = append(reached, name)
	}
	if len(reached) > 0 {
		return allowed("reached %v", reached)
	}
	if last != nil {
		return denied(fmt.Sprintf("connect to %v", tried), last)
	}
	return result{Outcome: "denied", Errno: "ENOENT", Detail: "no abstract socket matching " + o.abstrRE}
}

// serve is the other project's container: it listens on -port, greets
// every connection, records its addresses in -o, and checks that it can
// reach itself on them (so a denial elsewhere is the network's doing).
func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	out := fs.String("o", "", "results file")
	port := fs.Int("port", 8099, "TCP port")
	fs.Parse(args)
	w, err := newWriter(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe serve:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", *port))
	if err != nil {
		w.write(result{Case: "_listening", Outcome: "error", Detail: err.Error()})
		os.Exit(2)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, "hello from the peer")
			c.Close()
		}
	}()
	var ips []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			ips = append(ips, n.IP.String())
		}
	}
	self := result{Case: "_selftest", Outcome: "denied", Detail: "no address"}
	for _, ip := range ips {
		o := &opts{peer: net.JoinHostPort(ip, fmt.Sprint(*port))}
		self = tcpPeer(o)
		self.Case = "_selftest"
	}
	w.write(self)
	w.write(result{Case: "_listening", Outcome: "allowed", Detail: strings.Join(ips, ",")})
	w.close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
