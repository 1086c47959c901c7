// Package runtime runs one isolated container from a prepared root
// filesystem. It is the native engine's container runtime: hoist itself is
// the runtime, re-executing its own binary as the container's init.
//
// # Processes
//
// Start executes the init binary, from an immutable cached copy
// (host_initcache.go) or a sealed memfd (host_memfd.go), with a marker in argv[0]
// and clone flags for new mount, PID, UTS, IPC and (unless the host's or
// another network namespace is used) network namespaces. Spawn does that
// part alone, ahead of the Spec, so that the init's own start overlaps
// with the caller's preparations; Spawned.Start then sends the Spec. With
// Spec.Overlay the init mounts the container's overlay itself, inside its
// mount namespace, so the host never has that mount. The init binary is initshim, a small build of this
// package's container side only (the hoistinit build tag) that
// `go generate` puts in initbin/ for hoist to embed; without it, hoist's
// own binary plays the part, just slower to start. The parent sends the
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
// # Files
//
// A file's name says on which side of the container boundary its code
// runs: host_*.go in the process that starts containers (hoist, or its
// supervisor), init_*.go inside the container's namespaces (the init,
// pid 1, or a helper role that joined them), and the rest (the Spec, the
// roles, capabilities, device rules, the seccomp program's type) on both.
//
// # Cgroups
//
// On cgroup v1 (one hierarchy per controller) a container gets
//
//	/sys/fs/cgroup/<ctrl>/<hoist's own path for ctrl>/hoist/<container-id>
//
// for ctrl in memory, cpu and pids, where hoist's own path is read from
// /proc/self/cgroup, so hoist nests inside whatever cgroup it was started
// in. On cgroup v2 (when /sys/fs/cgroup/cgroup.controllers lists
// controllers) the same relative path is used in the unified hierarchy.
// Cleanup kills whatever is left in the container's cgroups, waits for them
// to empty, removes them, and removes the shared "hoist" directory when it
// became empty.
//
// # Security
//
// Inside the container: "/" is made rslave, the rootfs is bind-mounted onto
// itself and becomes the root by pivot_root (the old root is detached),
// mount targets are resolved inside the rootfs (init_securejoin.go), Docker's
// masked and read-only paths are applied, capabilities are reduced to
// Docker's 14 defaults, and Docker's default seccomp profile is compiled to
// BPF (host_seccomp_compile.go documents what is approximated). File descriptors above 2
// are marked close-on-exec before the command is executed.
package runtime
