// Package stdio is a container process's standard streams, fds 0 to 2,
// as the native runtime gives them: either pipes that the host copies
// from and to the caller's readers and writers, or files made for that
// container alone and handed over as they are (host_streams.go, the host
// side only), or a terminal: a pty made inside the container from its own
// devpts (init_console.go, the container side), whose master comes back
// to the host over a socket and is served there (host_console.go). The
// hoistinit build tag leaves the host side out of the init binary, which
// only needs SetupConsole.
//
// No file of hoist's reaches a container this way: not hoist's terminal,
// not a file hoist was given as stdin (see Handover).
package stdio
