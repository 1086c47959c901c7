package compose

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v4"
)

// compose-go reports its warnings (an unset variable, an obsolete
// attribute, a YAML 1.1 boolean ...) through logrus's standard logger, a
// global, which would print them as `time="..." level=warning msg="..."`.
// While hoist loads, that logger writes nowhere and its warnings are
// handed to Options.Warn instead, located in the files where the message
// allows it; loads that capture are serialized, and the logger is restored
// after.
var logrusMu sync.Mutex

// captureWarnings runs fn with compose-go's warnings sent to warn, each
// message once.
func captureWarnings(warn func(msg string), fn func() error) error {
	logrusMu.Lock()
	defer logrusMu.Unlock()
	l := logrus.StandardLogger()
	out := l.Out
	hooks := l.ReplaceHooks(logrus.LevelHooks{})
	l.SetOutput(io.Discard)
	defer func() {
		l.SetOutput(out)
		l.ReplaceHooks(hooks)
	}()
	seen := map[string]bool{}
	l.AddHook(warnHook(func(msg string) {
		if !seen[msg] {
			seen[msg] = true
			warn(msg)
		}
	}))
	return fn()
}

type warnHook func(string)

func (warnHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h warnHook) Fire(e *logrus.Entry) error {
	h(e.Message)
	return nil
}

var (
	reObsoleteVersion = lazyRegexp("^(.+): the attribute `version` is obsolete")
	reUnsetVariable   = lazyRegexp(`^The "([^"]+)" variable is not set\. Defaulting to a blank string\.$`)
	reYAML11Bool      = lazyRegexp("^\"([^\"]+)\" for boolean is not supported by YAML 1\\.2, please use `(true|false)`$")
	reExternalName    = lazyRegexp(`^(\S+): external\.name is deprecated`)
)

// explainWarning turns one of compose-go's warnings into a located line.
func explainWarning(msg string, docs sourceDocs) *Error {
	w := &Error{Msg: msg}
	switch {
	case reObsoleteVersion().MatchString(msg):
		file := reObsoleteVersion().FindStringSubmatch(msg)[1]
		w.File, w.Line = docs.locateIn(file, []string{"version"})
		w.Msg, w.Hint = "the attribute `version` is obsolete and ignored", "remove it"
	case reUnsetVariable().MatchString(msg):
		name := reUnsetVariable().FindStringSubmatch(msg)[1]
		w.Service, w.File, w.Line = docs.findScalar(func(s string) bool { return mentionsVariable(s, name) })
		w.Msg, w.Hint = fmt.Sprintf("variable %s is not set, so it is an empty string", name), "set it in the environment or in .env, or give a default: ${"+name+":-value}"
	case reYAML11Bool().MatchString(msg):
		m := reYAML11Bool().FindStringSubmatch(msg)
		w.Service, w.File, w.Line = docs.findScalar(func(s string) bool { return s == m[1] })
		w.Msg, w.Hint = fmt.Sprintf("%q is a boolean only in YAML 1.1", m[1]), fmt.Sprintf("write %s", m[2])
	case reExternalName().MatchString(msg):
		path := splitPath(reExternalName().FindStringSubmatch(msg)[1])
		w.File, w.Line = docs.locate(append(path, "external", "name"))
		w.Msg, w.Hint = "external.name is deprecated", "set name: and external: true"
	}
	return w
}

// mentionsVariable tells whether s interpolates variable name ($name or
// ${name...}; $$ is a literal dollar).
func mentionsVariable(s, name string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		rest := s[i+1:]
		if rest[0] == '$' {
			i++
			continue
		}
		rest = strings.TrimPrefix(rest, "{")
		if strings.HasPrefix(rest, name) && (len(rest) == len(name) || !isNameChar(rest[len(name)])) {
			return true
		}
	}
	return false
}

func isNameChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// findScalar finds the first scalar (key or value) that match accepts,
// the last file first: its service (when under services:), file and line.
func (d sourceDocs) findScalar(match func(string) bool) (service, file string, line int) {
	for i := len(d) - 1; i >= 0; i-- {
		if services, depth := walk(d[i].root, []string{"services"}); services != nil && depth == 1 && services.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(services.Content); j += 2 {
				if v := findScalar(services.Content[j+1], match); v != nil {
					return services.Content[j].Value, d[i].display, v.Line
				}
			}
		}
		if v := findScalar(d[i].root, match); v != nil {
			return "", d[i].display, v.Line
		}
	}
	return "", "", 0
}
