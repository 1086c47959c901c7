// Package provider runs docker compose's provider services. A service
// with `provider:` is no container but an executable on the host, found as
// docker compose finds it (the docker CLI plugin docker-TYPE, else TYPE on
// PATH) and run as
//
//	TYPE compose --project-name=PROJECT up|down [--OPTION=VALUE...] SERVICE
//
// with the project's environment. It reports on its standard output, one
// JSON object per line, {"type": T, "message": M}: T is info (progress),
// debug, error (it failed: M says why), setenv (M is KEY=VALUE, which the
// services that depend on it get as SERVICE_KEY) or rawsetenv (KEY=VALUE,
// given as KEY). Before that, `TYPE compose metadata` may describe the
// options of up and down as JSON: then only the options it lists are
// passed, and those it requires must be set.
//
// The package is engine-agnostic: the orchestrator runs providers, then
// hands their variables to the dependents' containers on any engine.
package provider

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Message kinds a provider writes.
const (
	Info      = "info"
	Debug     = "debug"
	Error     = "error"
	SetEnv    = "setenv"
	RawSetEnv = "rawsetenv"
)

// Variables are what a provider's up set for the services depending on it.
type Variables struct {
	Prefixed map[string]string // setenv: a dependent gets SERVICE_KEY
	Raw      map[string]string // rawsetenv: a dependent gets KEY
}

// Env is the environment a dependent of provider service gets: the
// prefixed variables as SERVICE_KEY (the service's name in upper case),
// the raw ones as they are.
func (v Variables) Env(service string) map[string]string {
	out := make(map[string]string, len(v.Prefixed)+len(v.Raw))
	prefix := strings.ToUpper(service) + "_"
	for k, val := range v.Prefixed {
		out[prefix+k] = val
	}
	maps.Copy(out, v.Raw)
	return out
}

// Runner runs the provider services of one project.
type Runner struct {
	Project string
	// Environ is the environment the executable gets (the project's).
	Environ []string
	// Find locates a provider type's executable; nil means Find with
	// Environ.
	Find func(typ string) (string, error)
	// Report receives the provider's info and debug messages; nil drops them.
	Report func(service, kind, message string)
}

// Up runs the provider of s with `up` and returns the variables it set.
func (r Runner) Up(ctx context.Context, s types.ServiceConfig) (Variables, error) {
	return r.run(ctx, s, "up")
}

// Down runs the provider of s with `down`.
func (r Runner) Down(ctx context.Context, s types.ServiceConfig) error {
	_, err := r.run(ctx, s, "down")
	return err
}

func (r Runner) run(ctx context.Context, s types.ServiceConfig, command string) (Variables, error) {
	vars := Variables{Prefixed: map[string]string{}, Raw: map[string]string{}}
	if s.Provider == nil {
		return vars, fmt.Errorf("service %q has no provider", s.Name)
	}
	find := r.Find
	if find == nil {
		find = func(typ string) (string, error) { return Find(typ, r.Environ) }
	}
	exe, err := find(s.Provider.Type)
	if err != nil {
		return vars, fmt.Errorf("provider service %q: %w", s.Name, err)
	}
	args, err := r.args(ctx, exe, s, command)
	if err != nil {
		return vars, fmt.Errorf("provider service %q: %w", s.Name, err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = r.Environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return vars, err
	}
	if err := cmd.Start(); err != nil {
		return vars, fmt.Errorf("provider service %q: run %s: %w", s.Name, exe, err)
	}
	readErr := r.read(stdout, s.Name, vars)
	if readErr != nil {
		// What it writes after a failure is not read; it must not block
		// on a full pipe.
		go io.Copy(io.Discard, stdout) //nolint:errcheck
	}
	waitErr := cmd.Wait()
	switch {
	case readErr != nil:
		return vars, fmt.Errorf("provider service %q: %s: %w", s.Name, command, readErr)
	case waitErr != nil:
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			msg = ": " + lastLine(msg)
		}
		return vars, fmt.Errorf("provider service %q: %s %s: %v%s", s.Name, exe, command, waitErr, msg)
	}
	return vars, nil
}

// read decodes the provider's messages until its output ends or it
// reports an error.
func (r Runner) read(out io.Reader, service string, vars Variables) error {
	dec := json.NewDecoder(bufio.NewReader(out))
	for {
		var m struct{ Type, Message string }
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("its output is not JSON messages: %w", err)
		}
		switch m.Type {
		case Error:
			return errors.New(m.Message)
		case Info, Debug:
			if r.Report != nil {
				r.Report(service, m.Type, m.Message)
			}
		case SetEnv, RawSetEnv:
			k, v, ok := strings.Cut(m.Message, "=")
			if !ok {
				return fmt.Errorf("%s %q is not KEY=VALUE", m.Type, m.Message)
			}
			if m.Type == SetEnv {
				vars.Prefixed[k] = v
			} else {
				vars.Raw[k] = v
			}
		default:
			return fmt.Errorf("unknown message type %q", m.Type)
		}
	}
}

// args are the executable's arguments for command: the options of
// provider.options (sorted by name; a list gives the option once per
// value), limited to those its metadata lists for the command when it
// has metadata, whose required ones must be set.
func (r Runner) args(ctx context.Context, exe string, s types.ServiceConfig, command string) ([]string, error) {
	md, described := r.metadata(ctx, exe)
	params := md.Up
	if command == "down" {
		params = md.Down
	}
	if described {
		for _, p := range params.Parameters {
			if _, ok := s.Provider.Options[p.Name]; p.Required && !ok {
				return nil, fmt.Errorf("option %q, which %s requires for %s, is not set; add it under provider.options", p.Name, s.Provider.Type, command)
			}
		}
	}
	args := []string{"compose", "--project-name=" + r.Project, command}
	for _, k := range slices.Sorted(maps.Keys(s.Provider.Options)) {
		if described && !params.has(k) {
			continue
		}
		for _, v := range s.Provider.Options[k] {
			args = append(args, "--"+k+"="+v)
		}
	}
	return append(args, s.Name), nil
}

// metadata is what `EXE compose metadata` says of the provider's
// commands; described is false when it says nothing usable, and then
// every option is passed.
type metadata struct {
	Description string   `json:"description"`
	Up          commandM `json:"up"`
	Down        commandM `json:"down"`
}

type commandM struct {
	Parameters []parameter `json:"parameters"`
}

type parameter struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
}

func (c commandM) has(name string) bool {
	return slices.ContainsFunc(c.Parameters, func(p parameter) bool { return p.Name == name })
}

func (r Runner) metadata(ctx context.Context, exe string) (md metadata, described bool) {
	cmd := exec.CommandContext(ctx, exe, "compose", "metadata")
	cmd.Env = r.Environ
	out, err := cmd.Output()
	if err != nil || json.Unmarshal(out, &md) != nil {
		return metadata{}, false
	}
	return md, md.Description != "" || md.Up.Parameters != nil || md.Down.Parameters != nil
}

// Find locates the executable of provider type typ as docker compose
// does, with environ's variables: the docker CLI plugin docker-TYPE in the
// plugin directories (cliPluginsExtraDirs of the docker CLI's config.json,
// $DOCKER_CONFIG/cli-plugins or ~/.docker/cli-plugins, then the system's),
// else TYPE on $PATH.
func Find(typ string, environ []string) (string, error) {
	if typ == "" || typ == "compose" || strings.ContainsRune(typ, '/') {
		return "", fmt.Errorf("%q is not a provider type", typ)
	}
	for _, dir := range pluginDirs(environ) {
		if p := filepath.Join(dir, "docker-"+typ); isFile(p) {
			return p, nil
		}
	}
	for _, dir := range filepath.SplitList(getenv(environ, "PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, typ)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("provider %q is neither a docker CLI plugin (docker-%s) nor on PATH; install it", typ, typ)
}

// systemPluginDirs are where the docker CLI looks for plugins after the
// user's own directories.
var systemPluginDirs = []string{
	"/usr/local/lib/docker/cli-plugins",
	"/usr/local/libexec/docker/cli-plugins",
	"/usr/lib/docker/cli-plugins",
	"/usr/libexec/docker/cli-plugins",
}

func pluginDirs(environ []string) []string {
	cfgDir := getenv(environ, "DOCKER_CONFIG")
	if home := getenv(environ, "HOME"); cfgDir == "" && home != "" {
		cfgDir = filepath.Join(home, ".docker")
	}
	var dirs []string
	if cfgDir != "" {
		if b, err := os.ReadFile(filepath.Join(cfgDir, "config.json")); err == nil {
			var cfg struct {
				Extra []string `json:"cliPluginsExtraDirs"`
			}
			if json.Unmarshal(b, &cfg) == nil {
				dirs = append(dirs, cfg.Extra...)
			}
		}
		dirs = append(dirs, filepath.Join(cfgDir, "cli-plugins"))
	}
	return append(dirs, systemPluginDirs...)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func getenv(environ []string, key string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], key+"="); ok {
			return v
		}
	}
	return ""
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
