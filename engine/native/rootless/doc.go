// Package rootless runs the native engine for a user who is not root.
//
// A Go process cannot join a user namespace once it runs (it has
// threads), so hoist gets there in two steps:
//
//   - Ensure runs a holder: hoist re-executed in a new user and mount
//     namespace ("hoist-runtime:userns"), blocked on a pipe until this
//     side has written its id mapping with newuidmap and newgidmap (the
//     user's ranges in /etc/subuid and /etc/subgid; a single id without
//     one), then executed again ("hoist-runtime:anchor") so that it is
//     root with every capability in the namespace. It makes the project's
//     network namespace on a thread of its own, which stays parked there,
//     and tells this side it is ready.
//   - Command runs hoist again in the holder's user and mount namespaces
//     and the project's network namespace, through util-linux's nsenter
//     (a single-threaded C program, which may join them). That hoist is
//     root in the namespace and runs the native engine as root does, in
//     the rootless store (Dirs); the parts that must differ there ask
//     internal/userns.Inside.
//
// A project's holder is its anchor: detached, the subreaper of what it
// starts, it lives until the project is torn down. Commands that have no
// project use a holder that ends with the command.
//
// This package is the user's side (host_*.go run in the user's own
// namespaces; userns_role.go is the first step of a new namespace) and
// stays light: cmd/hoist/fastrun links it, and runs RoleUserns, before
// most of hoist is initialised. The holder's side, which runs the
// supervisor, is package anchor.
package rootless
