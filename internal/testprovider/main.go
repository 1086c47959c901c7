// Command testprovider is a provider of docker compose's provider services,
// for the tests: what hoist and docker compose run for a service with
// `provider: {type: ...}`.
//
//	testprovider compose metadata
//	testprovider compose --project-name=P up [--name=value...] SERVICE
//	testprovider compose --project-name=P down [--name=value...] SERVICE
//
// Its options: state=DIR (required by up and down): up writes
// DIR/P-SERVICE, a record of the call (the project, command, service,
// options sorted and the variable PROVIDER_PROBE of its environment), and
// down removes it; greeting=TEXT: up sets GREETING=TEXT (as setenv, so
// dependents get SERVICE_GREETING) and RAW_GREETING=TEXT (as rawsetenv);
// fail=MESSAGE: up reports MESSAGE as an error and exits 1. It reports
// info and debug messages as it goes, and sets URL.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testprovider:", err)
		os.Exit(1)
	}
}

func say(kind, msg string) {
	b, _ := json.Marshal(map[string]string{"type": kind, "message": msg})
	fmt.Println(string(b))
}

func run(args []string) error {
	if len(args) == 2 && args[0] == "compose" && args[1] == "metadata" {
		param := func(name string, required bool) map[string]any {
			return map[string]any{"name": name, "description": name, "required": required, "type": "string"}
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]any{
			"description": "hoist's test provider",
			"up":          map[string]any{"parameters": []any{param("state", true), param("greeting", false), param("fail", false)}},
			"down":        map[string]any{"parameters": []any{param("state", true)}},
		})
	}
	if len(args) < 4 || args[0] != "compose" {
		return fmt.Errorf("usage: compose --project-name=P up|down [--name=value...] SERVICE (got %q)", args)
	}
	project, ok := strings.CutPrefix(args[1], "--project-name=")
	if !ok {
		return fmt.Errorf("no --project-name: %q", args)
	}
	command, service := args[2], args[len(args)-1]
	opts := map[string]string{}
	var optArgs []string
	for _, a := range args[3 : len(args)-1] {
		kv, ok := strings.CutPrefix(a, "--")
		k, v, hasValue := strings.Cut(kv, "=")
		if !ok || !hasValue {
			return fmt.Errorf("option %q is not --name=value", a)
		}
		opts[k] = v
		optArgs = append(optArgs, a)
	}
	sort.Strings(optArgs)
	if opts["state"] == "" {
		return fmt.Errorf("--state is required")
	}
	record := filepath.Join(opts["state"], project+"-"+service)
	switch command {
	case "up":
		say("info", "starting "+service)
		say("debug", fmt.Sprintf("options %q", optArgs))
		if msg := opts["fail"]; msg != "" {
			say("error", msg)
			return fmt.Errorf("failed: %s", msg)
		}
		text := fmt.Sprintf("project=%s\ncommand=%s\nservice=%s\noptions=%s\nprobe=%s\n",
			project, command, service, strings.Join(optArgs, " "), os.Getenv("PROVIDER_PROBE"))
		if err := os.WriteFile(record, []byte(text), 0o644); err != nil {
			return err
		}
		say("setenv", "URL=http://"+service+".invalid:1234/"+project)
		if g, ok := opts["greeting"]; ok {
			say("setenv", "GREETING="+g)
			say("rawsetenv", "RAW_GREETING="+g)
		}
		say("info", service+" is ready")
	case "down":
		say("info", "removing "+service)
		if err := os.Remove(record); err != nil && !os.IsNotExist(err) {
			return err
		}
	default:
		return fmt.Errorf("unknown command %q", command)
	}
	return nil
}
