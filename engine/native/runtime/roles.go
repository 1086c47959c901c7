// Roles of a re-executed hoist: how MaybeInit picks one, the descriptors
// each receives, and their configuration protocol. Shared by both sides.

package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Roles of a re-executed hoist, carried in argv[0] so nothing leaks into
// the container's environment.
const (
	rolePrefix = "hoist-runtime:"
	roleInit   = rolePrefix + "init"  // container init (pid 1 of the new namespaces)
	roleFinal  = rolePrefix + "final" // applies user, caps and seccomp, then execs
)

// File descriptors every re-executed role receives.
const (
	fdConfig = 3 // JSON configuration, read to EOF
	fdError  = 4 // one JSON line on failure; close-on-exec, so EOF means success
	fdSelf   = 5 // the sealed hoist binary (init only)
)

// The main goroutine is locked to the main thread in every process that
// embeds the runtime. In a role: its credentials, capabilities and seccomp
// filter are per thread, and pid 1's /proc status (what a container sees
// of its init) is its main thread's, so MaybeInit must run there (a lock
// taken later would hold whichever thread the goroutine had migrated to).
// In hoist: Exec joins a container's namespaces on a locked thread and
// never gives it back; were that the main thread, Go would keep it
// (the main thread cannot exit) and the whole process would show the
// container's network namespace in /proc/self/ns and /proc/self/net.
// With the main goroutine holding it, no other goroutine runs there.
func init() {
	goruntime.LockOSThread()
}

// IsRole reports whether this process is a re-executed hoist in one of
// the runtime's roles (MaybeInit runs it), not a command line.
func IsRole() bool { return strings.HasPrefix(os.Args[0], rolePrefix) }

// MaybeInit runs the role of a re-executed hoist and never returns in that
// case. It returns false in an ordinary hoist process. main, and TestMain
// of every package that starts containers, must call it first.
func MaybeInit() bool {
	if !IsRole() {
		return false
	}
	// Credentials, capabilities, seccomp and no_new_privs are per thread:
	// everything up to execve happens on this one.
	goruntime.LockOSThread()
	// Non-dumpable: container processes cannot ptrace us or open our
	// /proc/<pid>/exe (see initexe/memfd.go). execve resets it for the command.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	setProcName(os.Args[0])
	var err error
	switch os.Args[0] {
	case roleInit:
		err = runInit()
	case roleFinal:
		err = runFinal()
	default:
		if run := extraRoles[os.Args[0]]; run != nil {
			os.Exit(run())
		}
		err = fmt.Errorf("unknown hoist runtime role %q", os.Args[0])
	}
	reportError(err)
	os.Exit(127)
	return true
}

// childError is what a role writes on fdError.
type childError struct {
	Error string `json:"error"`
}

func reportError(err error) {
	if err == nil {
		return
	}
	f := os.NewFile(fdError, "error-pipe")
	_ = json.NewEncoder(f).Encode(childError{Error: err.Error()})
	f.Close()
}

// readConfig decodes the JSON configuration from fdConfig.
func readConfig(v any) error {
	f := os.NewFile(fdConfig, "config-pipe")
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if len(b) == 0 {
		// The parent gave up before sending anything.
		os.Exit(1)
	}
	return decodeConfig(b, v)
}

// decodeConfig refuses a field this binary does not know (an init binary
// older than hoist) instead of ignoring it: it may be a security setting.
func decodeConfig(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}

// readChildError reads r until EOF; a JSON line there is the child's error.
func readChildError(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read container setup status: %w", err)
	}
	if len(b) == 0 {
		return nil
	}
	var ce childError
	if err := json.Unmarshal(b, &ce); err != nil {
		return fmt.Errorf("container setup failed: %s", strings.TrimSpace(string(b)))
	}
	return fmt.Errorf("container setup: %s", ce.Error)
}

// extraRoles are re-exec roles of other packages, run by MaybeInit like
// the runtime's own (the native engine's port proxy, for one).
var extraRoles = map[string]func() int{}

// RegisterRole makes MaybeInit run run, and exit with its status, in a
// hoist re-executed with argv[0] name. name must start with
// "hoist-runtime:" and not be one of the runtime's roles. Call it from an
// init function: MaybeInit runs first thing in main.
func RegisterRole(name string, run func() int) {
	if !strings.HasPrefix(name, rolePrefix) || name == roleInit || name == roleFinal {
		panic("runtime.RegisterRole: bad role name " + name)
	}
	extraRoles[name] = run
}

// writeJSON writes v as one JSON document, the configuration format of
// every role.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
