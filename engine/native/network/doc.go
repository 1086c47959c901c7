// Package network gives the native engine's containers their networks:
// one Linux bridge per compose network, a veth per container and network,
// stable addresses, outbound NAT with nftables, and name resolution
// through managed hosts files.
//
// # Process model
//
// Containers are started detached and outlive the CLI, so nothing here
// lives in memory: one process creates a project's network state and
// another (a later "down", a supervisor, a cleanup after a crash) removes
// it, from files. Each record is written before the object it describes
// is created, so Teardown always knows what to remove; links also carry
// an ifalias "hoist:<project>/..." as a second way to find them.
//
// # Layout
//
//	<RunDir>/<project>/net.lock                   per-project flock
//	<RunDir>/<project>/net/networks/<name>.json   bridge, subnet, gateway, reserved IPs
//	<RunDir>/<project>/net/containers/<name>.json netns path, veths, addresses, names
//	<RunDir>/<project>/net/netns/<name>           bind-mounted network namespace
//	<RunDir>/<project>/net/hosts/<name>           the container's /etc/hosts
//	<AllocFile>, <AllocFile>.lock                 host-wide subnet allocations
//
// Bridges are named "hoist-<9 hex>" and host-side veths "hv<13 hex>",
// hashes of the project and network (and container): 15 bytes, the
// kernel's limit. The nftables table is "ip hoist-<project>" (TableName).
//
// # Wiring
//
//	m, _ := network.New(network.Options{RunDir: "/run/hoist"})
//	m.EnsureNetwork(ctx, network.NetSpec{Name: "p_default", Project: "p"})
//	att, _ := m.Attach(ctx, network.AttachSpec{Project: "p", Container: "p-web-1",
//		Networks: []network.NetworkAttachment{{Name: "p_default", Aliases: []string{"web"}}}})
//	// start with runtime.Network{Mode: runtime.NetworkJoin, Path: att.NetnsPath}
//	// and att.HostsFile bind-mounted on /etc/hosts
//	m.Detach(ctx, "p", "p-web-1")  // after it exits; Release when removed for good
//	m.Teardown(ctx, "p")           // down, even when everything died
//
// See hosts.go for why names resolve through hosts files rather than an
// embedded DNS server.
package network
