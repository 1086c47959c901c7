package compose

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Error is a load or validation error that knows where it comes from. It
// prints as one line: "compose.yaml:4: service "web": <what>; <what to do>".
type Error struct {
	File    string // as the user would type it (relative when possible)
	Line    int    // 1-based; 0 when unknown
	Service string
	Msg     string
	Hint    string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Service != "" {
		fmt.Fprintf(&b, "service %q: ", e.Service)
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

var (
	reSchema      = lazyRegexp(`^validating (.+?): (\S+) (.*)$`)
	reInterpolate = lazyRegexp(`^error while interpolating (\S+): (.*)$`)
	reDependsOn   = lazyRegexp(`^service "([^"]+)" depends on undefined service "?([^":]+)"?`)
	reRefers      = lazyRegexp(`^service "([^"]+)" refers to undefined (network|volume|config|secret) ([^:]+)`)
	reCycle       = lazyRegexp(`dependency cycle detected: (.*)$`)
	reBadToken    = lazyRegexp(`^invalid (hostPort|containerPort|IP address|port|proto)[^:]*: (.+)$`)
	reDecode      = lazyRegexp(`(?m)^'([^'\n]+)' (.+)$`)
	reEnvFile     = lazyRegexp(`^env file (.+?) not found: `)
	reVolumeSpec  = lazyRegexp(`^invalid spec: (.*): (.+)$`)
	reNoImage     = lazyRegexp(`^service "([^"]+)" has neither an image nor a build context specified`)
)

// explain turns a compose-go error into *Error values with positions.
func explain(err error, docs sourceDocs) error {
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	msg := strings.TrimSpace(err.Error())
	// A value of the wrong shape: mapstructure lists the culprits on the
	// lines after its header, as 'services[a].mem_limit' invalid size.
	if strings.HasPrefix(msg, "decoding failed") {
		if m := reDecode().FindStringSubmatch(msg); m != nil {
			path := splitDecodePath(m[1])
			out := &Error{Err: err, Service: serviceOf(path), Msg: fmt.Sprintf("%s: %s", last(path), m[2]), Hint: decodeHint(m[2])}
			out.File, out.Line = docs.locate(path)
			return out
		}
	}
	// Joined errors print one per line; the first is enough to act on.
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i]
	}
	msg = strings.TrimSuffix(msg, ": invalid compose project")
	out := &Error{Msg: msg, Err: err}
	switch {
	case reSchema().MatchString(msg):
		m := reSchema().FindStringSubmatch(msg)
		path := splitPath(m[2])
		out.Service = serviceOf(path)
		what := m[3]
		if what == "false schema" || strings.Contains(what, "additional properties") {
			out.Msg = fmt.Sprintf("%s is not allowed here", last(path))
			out.Hint = "it is not part of the compose specification: check its spelling and indentation"
		} else {
			out.Msg = fmt.Sprintf("%s %s", m[2], what)
		}
		out.File, out.Line = docs.locateIn(m[1], path)
	case reInterpolate().MatchString(msg):
		m := reInterpolate().FindStringSubmatch(msg)
		path := splitPath(m[1])
		out.Service = serviceOf(path)
		out.Msg = fmt.Sprintf("%s: %s", strings.Join(path, "."), m[2])
		if strings.Contains(m[2], "required variable") {
			out.Hint = "set it in the environment or in .env"
		}
		out.File, out.Line = docs.locate(path)
	case reDependsOn().MatchString(msg):
		m := reDependsOn().FindStringSubmatch(msg)
		out.Service = m[1]
		out.Msg = fmt.Sprintf("depends_on names %q, which is not a service of this project", m[2])
		out.Hint = fmt.Sprintf("define service %q, enable its profile, or remove it from depends_on", m[2])
		out.File, out.Line = docs.locateValue([]string{"services", m[1], "depends_on"}, m[2])
	case reRefers().MatchString(msg):
		m := reRefers().FindStringSubmatch(msg)
		out.Service = m[1]
		kind := m[2]
		out.Msg = fmt.Sprintf("uses %s %q, which is not declared", kind, m[3])
		out.Hint = fmt.Sprintf("declare it under top-level %ss: or fix the name", kind)
		out.File, out.Line = docs.locateValue([]string{"services", m[1], kind + "s"}, m[3])
	case reCycle().MatchString(msg):
		m := reCycle().FindStringSubmatch(msg)
		chain := strings.Split(m[1], " -> ")
		out.Service = chain[0]
		out.Msg = "dependency cycle: " + m[1]
		out.Hint = "remove one of these depends_on entries"
		out.File, out.Line = docs.locate([]string{"services", chain[0], "depends_on"})
	case reBadToken().MatchString(msg):
		m := reBadToken().FindStringSubmatch(msg)
		svc, file, line := docs.findServiceValue("ports", m[2])
		out.Service, out.File, out.Line = svc, file, line
		out.Msg = fmt.Sprintf("ports: invalid %s %q", m[1], m[2])
		out.Hint = `use "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]" with ports from 1 to 65535`
	case reVolumeSpec().MatchString(msg):
		m := reVolumeSpec().FindStringSubmatch(msg)
		out.Service, out.File, out.Line = docs.findServiceValue("volumes", m[1])
		out.Msg = fmt.Sprintf("volumes: %q: %s", m[1], m[2])
		out.Hint = "use [SOURCE:]TARGET[:MODE], as in ./data:/data:ro"
	case reNoImage().MatchString(msg):
		out.Service = reNoImage().FindStringSubmatch(msg)[1]
		out.Msg, out.Hint = "has neither image nor build", "add image: or build:"
		out.File, out.Line = docs.locate([]string{"services", out.Service})
	case reEnvFile().MatchString(msg):
		path := reEnvFile().FindStringSubmatch(msg)[1]
		out.Service, out.File, out.Line = docs.findEnvFile(path)
		out.Msg = fmt.Sprintf("env_file %s does not exist", path)
		out.Hint = "create it, fix the path (it is relative to the project directory), or make it optional: {path: ..., required: false}"
	default:
		if len(docs) > 0 {
			out.File = docs[0].display
		}
	}
	return out
}

// splitDecodePath splits mapstructure's path, services[web.v2].mem_limit,
// into its elements: what is in brackets is one (a service name may hold
// dots).
func splitDecodePath(p string) []string {
	var out []string
	for p != "" {
		switch {
		case p[0] == '.':
			p = p[1:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p[1:])
			}
			out = append(out, p[1:end])
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}

// decodeHint says how to write a value of the kind detail complains of.
func decodeHint(detail string) string {
	switch {
	case strings.Contains(detail, "invalid size"):
		return "use a size such as 512m or 2g"
	case strings.Contains(detail, "invalid duration"):
		return "use a duration such as 10s or 1m30s"
	case strings.Contains(detail, "command line"):
		return `close its quotes, or write it as a list: ["cmd", "arg"]`
	}
	return "fix the value's type or format"
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, ".") {
		s = strings.Trim(s, "[]")
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func serviceOf(path []string) string {
	if len(path) >= 2 && path[0] == "services" {
		return path[1]
	}
	return ""
}

func last(p []string) string {
	if len(p) == 0 {
		return ""
	}
	return p[len(p)-1]
}

// lazyRegexp compiles expr on first use: these patterns serve errors and
// validation, and compiling them at startup cost every hoist command
// 1.5 ms.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
