package runtime

import "strings"

// extraRoles are re-exec roles of other packages, run by MaybeInit like
// the runtime's own (the native engine's port proxy, for one).
var extraRoles = map[string]func() int{}

// RegisterRole makes MaybeInit run run, and exit with its status, in a
// hoist re-executed with argv[0] name. name must start with
// "hoist-runtime:" and not be one of the runtime's roles. Call it from an
// init function: MaybeInit runs first thing in main.
func RegisterRole(name string, run func() int) {
	if !strings.HasPrefix(name, rolePrefix) || name == roleInit || name == roleFinal || name == roleMonitor {
		panic("runtime.RegisterRole: bad role name " + name)
	}
	extraRoles[name] = run
}
