// Package runtime runs one isolated container from a prepared root
// filesystem. It is the native engine's container runtime: hoist itself is
// the runtime, re-executing its own binary as the container's init.
//
// # Processes
//
// Start executes the init binary (package initexe: an immutable cached
// copy, or a sealed memfd) with a marker in argv[0] and clone flags for
// new mount, PID, UTS, IPC and (unless the host's or another network
// namespace is used) network namespaces. Spawn does that part alone,
// ahead of the Spec, so that the init's own start overlaps with the
// caller's preparations; Spawned.Start then sends the Spec. With
// Spec.Overlay the init mounts the container's overlay itself, inside its
// mount namespace, so the host never has that mount. The init binary is
// initshim, a small build of this package's container side only (the
// hoistinit build tag) that `go generate` (generate.go) puts in
// initexe/initbin/ for hoist to embed; without it, hoist's own binary
// plays the part, just slower to start. The parent sends the
// configuration as JSON over an inherited pipe only after it has placed
// the child in its cgroup and run the Prestart hook, so the child never
// runs unconfined; the seccomp filter is compiled by the parent and sent
// with it, and a field the init does not know is refused. The child
// reports a setup error as one JSON line on a second pipe; that pipe is
// close-on-exec, so EOF without data means the user's command was
// executed (with Init, pid 1 closes it once it has forked the command).
//
// Every binary that embeds this package must call MaybeInit first thing in
// main (and in TestMain), because the re-executed binary is how the init,
// exec and copy roles run.
//
// # Files and packages
//
// A file's name says on which side of the container boundary its code
// runs: host_*.go in the process that starts containers (hoist, or its
// supervisor), init_*.go inside the container's namespaces (the init,
// pid 1, or a helper role that joined them), and the rest (the Spec, the
// roles, device rules, limits) on both. The parts that are a whole of
// their own are packages below this one, each saying which side it runs
// on; the init binary links only the container's side of them, so none
// brings a host-only dependency into it (TestInitShimLinksContainerSideOnly):
// caps (capability sets), seccomp (the filter; its compiler is the
// host's), user (the container's user), stdio (standard streams and the
// terminal), and, host side only, cgroup (cgroups, limits, device rules),
// initexe (what the container side runs from) and state (a detached
// container's record). The names other packages use stay here (Handover,
// WinSize, State, ReadState, RemoveCgroups, ...) as aliases or forwarders.
//
// # Security
//
// Inside the container: "/" is made rslave, the rootfs is bind-mounted onto
// itself and becomes the root by pivot_root (the old root is detached),
// mount targets are resolved inside the rootfs (init_securejoin.go), Docker's
// masked and read-only paths are applied, capabilities are reduced to
// Docker's 14 defaults, and Docker's default seccomp profile is compiled to
// BPF (package seccomp documents what is approximated). The container's
// cgroup limits its memory, CPU, pids and devices (package cgroup documents
// the layout). File descriptors above 2 are marked close-on-exec before the
// command is executed.
package runtime
