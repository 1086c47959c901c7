package main

import "strings"

// globalValueFlags take a value, so the token after them is not a command.
var globalValueFlags = map[string]bool{
	"-f": true, "--file": true, "-p": true, "--project-name": true, "--profile": true,
	"--env-file": true, "--project-directory": true, "--parallel": true, "--progress": true, "--engine": true,
}

// fShorthand says what -f means after a command where docker's CLI gives
// it another meaning than the persistent -f/--file.
var fShorthand = map[string]string{
	"logs":     "--follow",
	"image rm": "--force",
	"rm":       "--force",
}

// rewriteArgs lets `hoist logs -f` mean --follow and `hoist image rm -f`
// and `hoist rm -f` --force, as in docker's CLIs: the persistent -f/--file owns the
// shorthand, so after those commands -f is rewritten before cobra parses it.
func rewriteArgs(args []string) []string {
	out := make([]string, 0, len(args))
	var words []string
	long := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case long != "" && a == "-f":
			out = append(out, long)
			continue
		case long != "" && strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a[1:], "f") && !strings.ContainsAny(a[1:], "n="):
			// combined shorthands like -tf
			out = append(out, strings.Replace(a, "f", "", 1), long)
			continue
		case len(words) == 0 && globalValueFlags[a]:
			out = append(out, a)
			if i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			continue
		case len(words) < 2 && !strings.HasPrefix(a, "-"):
			words = append(words, a)
			if l, ok := fShorthand[strings.Join(words, " ")]; ok {
				long = l
			}
		}
		out = append(out, a)
	}
	return out
}
