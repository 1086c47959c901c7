package watch

import "context"

// Controller applies the actions of develop.watch to a running service. Each
// engine implements it; the watcher never talks to an engine directly.
//
// Calls for one service are never concurrent with each other: the watcher
// runs one queue per service and waits for each call to return before making
// the next. Calls for different services may run concurrently. A returned
// error is reported through the Sink and watching goes on; ctx is cancelled
// when watching stops.
type Controller interface {
	// Sync makes the container side match the host for each change: copy the
	// file at HostPath to ContainerPath, or remove ContainerPath (recursively:
	// it may name a directory) when Deleted is set.
	//
	// HostPath may be a symbolic link; the watcher only hands over links whose
	// target resolves inside the rule's path, and the controller should copy
	// the link itself (Lstat semantics) rather than read through it. The
	// controller must still refuse container paths that escape the
	// container's root through a link already present in the container.
	Sync(ctx context.Context, service string, changes []Change) error

	// Rebuild builds the service's image and recreates its containers.
	Rebuild(ctx context.Context, service string) error

	// Restart restarts the service's containers.
	Restart(ctx context.Context, service string) error

	// Exec runs cmd in the service's containers and waits for it to exit.
	Exec(ctx context.Context, service string, cmd ExecCommand) error
}

// Change is one file to copy into, or remove from, a container.
type Change struct {
	HostPath      string // absolute, host separators
	ContainerPath string // absolute, forward slashes
	// Target is the rule's target: ContainerPath is under it, and a
	// controller must not let a symlink in the container below Target
	// redirect the write.
	Target  string
	Deleted bool
}

// ExecCommand is the `exec` of a sync+exec rule.
type ExecCommand struct {
	Command     []string
	User        string
	WorkingDir  string
	Environment map[string]string
	Privileged  bool
}
