// Package watch is the engine-agnostic core of `hoist watch`: it turns
// filesystem changes under the paths named by a service's develop.watch rules
// into calls on a small [Controller] (sync files, rebuild, restart, exec),
// which each engine implements.
//
// The pipeline is:
//
//	fsnotify → filter (ignore, include, .dockerignore, editor files)
//	         → batch (trailing debounce with a maximum wait, injected [Clock])
//	         → classify (stat, map to rules and container paths)
//	         → per-service queue (rebuild, sync, restart, exec; in-flight work
//	           collapses follow-ups into one)
//	         → [Controller]
//
// Linux inotify has no recursive mode, so every non-ignored directory gets
// its own watch; ignored trees such as node_modules are skipped before
// descending, which keeps the watch count proportional to the source tree.
//
// The package imports no engine implementation and logs nothing: everything
// observable is reported through the [Sink] as [Event] values.
package watch
