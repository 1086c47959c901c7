// Package supervisor is the native engine's per-project supervisor: one
// long-lived process per compose project that is the parent of every
// container init of the project. It reaps them and records their exits
// in each container's state dir (the runtime's state.json, so
// runtime.ReadState keeps working), captures their output into rotating
// log files (engine/native/logfile), applies restart policies with
// Docker's backoff, runs healthchecks (recorded in the store's
// health.json), and serves every published port of the project: its own
// containers' and those of containers hoist run runs attached
// (publish.go).
//
// # Process
//
// Ensure(ctx, project, dir) returns a Client of the supervisor in dir
// (such as /run/hoist/<project>), starting one if none answers. It holds
// an flock on dir/lock meanwhile, so concurrent calls, in any process,
// end with one supervisor. The supervisor is hoist re-executed with
// argv[0] "hoist-runtime:supervisor" (registered with
// runtime.RegisterRole, so runtime.MaybeInit runs it: a binary only has
// to link this package) in its own session, as child subreaper. It
// listens on dir/supervisor.sock, created mode 0600 (umask), records its
// pid and start time in dir/supervisor.json (temp file, fsync, rename),
// logs to dir/supervisor.log and keeps one record per container in
// dir/containers/<id>.json (its config, restart count, whether Stop
// ended it), and one per publication in dir/published/<id>.json.
//
// # Protocol
//
// One JSON request line per connection, one JSON response line back;
// "subscribe" is followed by event lines until either side closes. See
// proto.go; Client wraps it. Operations: run, stop, kill, remove, state,
// list, subscribe, publish, unpublish, shutdown, ping.
//
// # Containers
//
// Run starts the container in the supervisor with runtime.Monitor
// (Attach mode: stdout and stderr are FIFOs in the state dir, see
// fifo.go for the capture), so the supervisor is its
// parent and no per-container monitor process exists. Ports are bound
// before the container starts (a taken port fails Run) and served until
// it exits. Stop disables restarts for every policy (so "unless-stopped"
// and "always" stay down), sends the stop signal, kills after the grace
// period and returns once the exit is recorded. Kill only signals: the
// policy applies to the exit it causes.
//
// # Crash recovery
//
// Nothing ties a container's life to the supervisor's (no parent-death
// signal), so when the supervisor is killed -9 its containers keep
// running: the kernel reparents each container init to the nearest
// subreaper above the supervisor, normally the system's init (which reaps
// it when it ends; an init that does not reap leaves a zombie). Their
// output FIFOs stay writable (each container holds a read-write end), so
// writes only block once the pipe buffer (64 KiB) is full, until a new
// supervisor drains them. Restarts and healthchecks stop meanwhile.
//
// The next Ensure sees a dead supervisor (its pid gone or reused, by the
// start time) and starts a new one, which adopts every recorded
// container: a running one (state.json's pid, checked against its start
// time) is watched through a pidfd polled by Go's netpoller, since it is
// no longer a child; its exit code is lost and recorded as -1. It takes
// over the log FIFOs, the healthchecks, the ports and the restart policy,
// and the publications whose process still runs.
// A container that ended while no supervisor ran is restarted if its
// policy restarts on a failure.
//
// Teardown(dir) kills everything from the files alone, whether or not
// the supervisor lives: the supervisor first, then each recorded
// container's init and whatever is left in its cgroups, which it removes
// (runtime.RemoveCgroups).
package supervisor
