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

// pShorthand says what -p means after a command where docker compose gives
// it another meaning than the persistent -p/--project-name; only before the
// command's next word (run's SERVICE: what follows is the container's).
var pShorthand = map[string]string{
	"run": "--publish",
}

// runValueFlags are run's flags that take a separate value.
var runValueFlags = map[string]bool{
	"-e": true, "--env": true, "-v": true, "--volume": true, "-l": true, "--label": true,
	"-u": true, "--user": true, "-w": true, "--workdir": true, "--publish": true,
	"--name": true, "--entrypoint": true,
}

// rewriteArgs lets `hoist logs -f` mean --follow, `hoist image rm -f`
// and `hoist rm -f` --force, and `hoist run -p` --publish, as in docker's
// CLIs: the persistent -f/--file and -p/--project-name own the shorthands,
// so after those commands they are rewritten before cobra parses them.
func rewriteArgs(args []string) []string {
	out := make([]string, 0, len(args))
	var words []string
	long, publish := "", ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case publish != "" && strings.HasPrefix(a, "-"):
			// run's own flags, before its SERVICE: -p is --publish, and a
			// flag's value is not a word.
			if a == "-p" {
				a = publish
			}
			out = append(out, a)
			if runValueFlags[a] && i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			continue
		case publish != "":
			publish = "" // SERVICE: the rest is the container's
			out = append(out, a)
			continue
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
			publish = pShorthand[strings.Join(words, " ")]
		}
		out = append(out, a)
	}
	return out
}
