package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newExec(a *app) *cobra.Command {
	var noTTY, detach bool
	var user, workdir string
	var env []string
	var index int
	c := &cobra.Command{
		Use:   "exec [flags] SERVICE COMMAND [ARGS...]",
		Short: "Run a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withContainers(ctx, args[:1], false, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				var target *engine.Container
				for i := range cs {
					// A paused one too: the engine refuses it, saying so.
					if cs[i].Number == index && (cs[i].State == engine.StateRunning || cs[i].State == engine.StatePaused) {
						target = &cs[i]
					}
				}
				if target == nil {
					return fmt.Errorf("service %q has no running container number %d: start it with hoist up", args[0], index)
				}
				termIn := a.terminalIn(noTTY)
				tty := termIn != nil
				if tty {
					defer rawMode(termIn)()
				}
				spec := engine.ExecSpec{Cmd: args[1:], User: user, WorkDir: workdir, Env: env, TTY: tty, Stdout: a.stdout, Stderr: a.stderr}
				if !detach {
					// Copied, never handed over: no engine gives a
					// container a file of hoist's (runtime.Handover).
					spec.Stdin = a.stdin
				}
				if tty {
					size, resize, stop := watchTerminalSize(termIn)
					defer stop()
					spec.Size, spec.Resize = size, resize
				}
				code, err := o.Exec(ctx, *target, spec)
				if err != nil {
					return err
				}
				return exitOrNil(code)
			})
		},
	}
	fl := c.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&noTTY, "no-TTY", "T", false, "do not allocate a TTY")
	fl.BoolVarP(&detach, "detach", "d", false, "do not attach stdin")
	fl.StringVarP(&user, "user", "u", "", "run as this user")
	fl.StringVarP(&workdir, "workdir", "w", "", "working directory")
	fl.StringArrayVarP(&env, "env", "e", nil, "set environment variables")
	fl.IntVar(&index, "index", 1, "container number of the service")
	return c
}

func newLifecycle(a *app, verb string) *cobra.Command {
	var timeout int
	var signal string
	c := &cobra.Command{
		Use:   verb + " [SERVICE...]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " services",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withNamedProject(ctx, func(name string, p *types.Project, o *orchestrate.Orchestrator) error {
				switch verb {
				case "stop":
					return o.Stop(ctx, name, p, args, timeoutFlag(cmd, timeout), a.killCtx)
				case "start":
					return o.Start(ctx, name, args)
				case "restart":
					if err := o.Stop(ctx, name, p, args, timeoutFlag(cmd, timeout), a.killCtx); err != nil {
						return err
					}
					return o.Start(ctx, name, args)
				case "kill":
					return o.Kill(ctx, name, args, signal)
				}
				return nil
			})
		},
	}
	if verb == "stop" || verb == "restart" {
		c.Flags().IntVarP(&timeout, "timeout", "t", 10, "seconds to wait before killing")
	}
	if verb == "kill" {
		c.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "signal to send")
	}
	return c
}

func newLs(a *app) *cobra.Command {
	var all bool
	var format string
	c := &cobra.Command{
		Use:   "ls",
		Short: "List running projects",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var ps []engine.ProjectSummary
			var engineName string
			err := a.withOrchestrator(ctx, func(o *orchestrate.Orchestrator) error {
				var err error
				engineName = o.EngineName()
				ps, err = o.Projects(ctx)
				return err
			})
			if err != nil {
				return err
			}
			var rows []engine.ProjectSummary
			for _, p := range ps {
				if all || p.Running > 0 {
					rows = append(rows, p)
				}
			}
			if format == "json" {
				out := make([]map[string]string, 0, len(rows))
				for _, p := range rows {
					out = append(out, map[string]string{"Name": p.Name, "Status": projectStatus(p), "ConfigFiles": p.ConfigFiles, "Engine": engineName})
				}
				b, _ := json.Marshal(out)
				fmt.Fprintln(a.stdout, string(b))
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
			// ENGINE after docker compose's columns: native, native-rootless
			// (a user's own) or docker.
			fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES\tENGINE")
			for _, p := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, projectStatus(p), p.ConfigFiles, engineName)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "show stopped projects too")
	c.Flags().StringVar(&format, "format", "table", "table or json")
	return c
}

func projectStatus(p engine.ProjectSummary) string {
	if p.Running == p.Total {
		return fmt.Sprintf("running(%d)", p.Running)
	}
	if p.Running == 0 {
		return fmt.Sprintf("exited(%d)", p.Total)
	}
	return fmt.Sprintf("running(%d), exited(%d)", p.Running, p.Total-p.Running)
}

func newPort(a *app) *cobra.Command {
	var proto string
	var index int
	c := &cobra.Command{
		Use:   "port SERVICE PRIVATE_PORT",
		Short: "Print the public address of a port binding",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withContainers(ctx, args[:1], false, func(_ *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				if proto == "" {
					proto = "tcp"
				}
				for _, c := range cs {
					if c.Number != index {
						continue
					}
					for _, p := range c.Ports {
						if fmt.Sprint(p.ContainerPort) == args[1] && p.Protocol == proto && p.HostPort != 0 {
							host := p.HostIP
							if host == "" {
								host = "0.0.0.0"
							}
							fmt.Fprintf(a.stdout, "%s:%d\n", host, p.HostPort)
							return nil
						}
					}
				}
				return fmt.Errorf("no port %s/%s published for service %q", args[1], proto, args[0])
			})
		},
	}
	c.Flags().StringVar(&proto, "protocol", "tcp", "tcp or udp")
	c.Flags().IntVar(&index, "index", 1, "container number of the service")
	return c
}

func newTop(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICE...]",
		Short: "Show the running processes",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withContainers(ctx, args, false, func(o *orchestrate.Orchestrator, _ string, cs []engine.Container) error {
				ps, err := o.Top(ctx, cs)
				for _, p := range ps {
					fmt.Fprintln(a.stdout, p.Container.Name)
					tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, strings.Join(p.Titles, "\t"))
					for _, r := range p.Rows {
						fmt.Fprintln(tw, strings.Join(r, "\t"))
					}
					tw.Flush()
					fmt.Fprintln(a.stdout)
				}
				return err
			})
		},
	}
}

// watchTerminalSize returns f's terminal size now and a channel of its
// later sizes (SIGWINCH), until stop.
func watchTerminalSize(f *os.File) (engine.WinSize, <-chan engine.WinSize, func()) {
	get := func() engine.WinSize {
		w, h, err := term.GetSize(int(f.Fd()))
		if err != nil || w <= 0 || h <= 0 {
			return engine.WinSize{}
		}
		return engine.WinSize{Rows: uint16(h), Cols: uint16(w)}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH)
	out := make(chan engine.WinSize, 1)
	done := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case <-done:
				return
			case <-sigs:
				select {
				case out <- get():
				case <-done:
					return
				}
			}
		}
	}()
	return get(), out, func() { signal.Stop(sigs); close(done) }
}

// terminalIn is hoist's stdin when both it and stdout are terminals (the
// command then gets one too), unless noTTY; nil otherwise.
func (a *app) terminalIn(noTTY bool) *os.File {
	f, ok := a.stdin.(*os.File)
	if noTTY || !ok || !isTerminal(a.stdout) || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return f
}

// rawMode puts terminal f in raw mode and returns what restores it.
func rawMode(f *os.File) (restore func()) {
	old, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return func() {}
	}
	return func() { _ = term.Restore(int(f.Fd()), old) }
}
