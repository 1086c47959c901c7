package image

import (
	"bytes"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// applyChanges applies docker import's --change instructions (CMD,
// ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL) to
// cfg. They are parsed by BuildKit's Dockerfile parser so quoting, JSON
// and shell forms mean what they mean in a Dockerfile.
func applyChanges(cfg *v1.Config, changes []string) error {
	for _, change := range changes {
		res, err := parser.Parse(strings.NewReader(change))
		if err != nil {
			return fmt.Errorf("change %q: %w", change, err)
		}
		for _, node := range res.AST.Children {
			cmd, err := instructions.ParseInstruction(node)
			if err != nil {
				return fmt.Errorf("change %q: %w", change, err)
			}
			// Unquote and expand words as a Dockerfile does, against
			// the environment so far.
			if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
				lex := shell.NewLex('\\')
				env := shell.EnvsFromSlice(cfg.Env)
				err := ex.Expand(func(word string) (string, error) {
					w, _, err := lex.ProcessWord(word, env)
					return w, err
				})
				if err != nil {
					return fmt.Errorf("change %q: %w", change, err)
				}
			}
			if err := applyChange(cfg, cmd); err != nil {
				return fmt.Errorf("change %q: %w", change, err)
			}
		}
	}
	return nil
}

func applyChange(cfg *v1.Config, cmd any) error {
	shell := func(c instructions.ShellDependantCmdLine) []string {
		if c.PrependShell {
			return append([]string{"/bin/sh", "-c"}, strings.Join(c.CmdLine, " "))
		}
		return c.CmdLine
	}
	switch c := cmd.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = shell(c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shell(c.ShellDependantCmdLine)
		// As in a Dockerfile, a new ENTRYPOINT resets an inherited CMD.
		cfg.Cmd = nil
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = SetEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.WorkdirCommand:
		cfg.WorkingDir = c.Path
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	default:
		return fmt.Errorf("instruction not allowed in a change: %T", cmd)
	}
	return nil
}

// SetEnv sets key to value in env (KEY=VALUE entries) as Docker's ENV
// does: in place when it is there, else at the end.
func SetEnv(env []string, key, value string) []string {
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}
