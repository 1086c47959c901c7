// Package rootnet carries a rootless project's traffic between the host's
// network namespace and the project's own one.
//
// # The model
//
// A rootless project's supervisor runs in a user namespace the user owns,
// with its OS threads in the host's network namespace (owned by the
// initial user namespace, where the process has no capabilities). The
// project's bridges, veths and container addresses live in a separate
// network namespace owned by the project's user namespace, named by a path
// (a bind-mounted nsfs file, /proc/PID/ns/net, /proc/self/fd/N). A thread
// can setns into that namespace, but never back: setns to the host's
// namespace needs CAP_SYS_ADMIN over the initial user namespace. So a
// thread that entered the project's namespace is never given back to the
// Go scheduler; it stays locked to its goroutine and dies with it.
//
// Sockets keep the namespace they were created in, whichever thread uses
// them later. Everything here follows from that: a socket is made on a
// thread inside the project's namespace (Netns.Do for listeners,
// Netns.Dial for connections, served by one long-lived locked thread that
// only calls socket(2)), and then used from any goroutine, which runs in
// the host's namespace.
//
// # What it carries
//
//   - Published ports (PublishTCP, PublishUDP): a socket bound in the host's
//     namespace, by the CLI or the anchor, whose connections and datagrams
//     are forwarded to a container dialled from inside the project's
//     namespace. The forwarding is engine/native/portproxy's, with its Dial
//     hook set to Netns.Dial. CheckHostPort refuses, before anything is
//     made, a port the user cannot bind (net.ipv4.ip_unprivileged_port_start).
//   - Outbound TCP (StartOutbound): an nftables table in the project's
//     namespace redirects TCP from the containers' subnets to any address
//     outside them to a listener there; the listener reads the original
//     destination (SO_ORIGINAL_DST) and dials it from the host's
//     namespace. The host's loopback (127.0.0.0/8, and 0.0.0.0/8, which
//     Linux also delivers locally) is refused, so a container cannot reach
//     a service the host binds to 127.0.0.1; the host's other addresses are
//     reachable, as Docker's host gateway is. The container's connection
//     reaches its destination from a host address, not its own.
//   - DNS (StartDNS): a forwarder on a network's gateway address, in the
//     project's namespace, that sends each query to the host's resolvers
//     (HostResolvers reads /etc/resolv.conf) from the host's namespace, so
//     a resolver on the host's loopback (systemd-resolved's 127.0.0.53)
//     works. Names of the project's own services are not its job: hoist
//     writes hosts files.
//
// Other outbound UDP is not carried.
//
// # Preconditions for the caller
//
// The calling process must hold CAP_SYS_ADMIN (for setns) and
// CAP_NET_ADMIN (for nftables) in the user namespace that owns the
// project's network namespace, and its threads that are not locked here
// must be in the host's network namespace: Dial from the host's side and
// the published sockets are made on ordinary goroutines. No thread that
// entered the project's namespace may be unlocked: netlink.NewHandleAt
// unlocks its thread even when its setns back fails, and nftables'
// WithNetNSFd fails there because its setns back does; run netlink and
// nftables calls inside Netns.Do instead. nf_nat and nft_redir must be
// built in or loaded: a user namespace cannot load modules.
package rootnet
