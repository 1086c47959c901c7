package main

import "strings"

// globalValueFlags take a value, so the token after them is not a command.
var globalValueFlags = map[string]bool{
	"-f": true, "--file": true, "-p": true, "--project-name": true, "--profile": true,
	"--env-file": true, "--project-directory": true, "--parallel": true, "--progress": true, "--engine": true,
}

// rewriteArgs lets `hoist logs -f` mean --follow as in docker compose: the
// persistent -f/--file owns the shorthand, so after the logs command -f is
// rewritten before cobra parses it.
func rewriteArgs(args []string) []string {
	out := make([]string, 0, len(args))
	cmdSeen, inLogs := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case inLogs && a == "-f":
			out = append(out, "--follow")
			continue
		case inLogs && strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a[1:], "f") && !strings.ContainsAny(a[1:], "n="):
			// combined shorthands like -tf
			out = append(out, strings.Replace(a, "f", "", 1), "--follow")
			continue
		case !cmdSeen && globalValueFlags[a]:
			out = append(out, a)
			if i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			continue
		case !cmdSeen && !strings.HasPrefix(a, "-"):
			cmdSeen = true
			inLogs = a == "logs"
		}
		out = append(out, a)
	}
	return out
}
