package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/engine"
	"github.com/hoist-dev/hoist/orchestrate"
)

// The swarm engine runs services, not containers: on it, up, down, ps,
// logs, restart, scale, images and ls take the service-level path
// (orchestrate.Services), config and version are the same, and every
// other command is refused in one line. The commands keep their flags;
// routeSwarm swaps what they run when --engine swarm (HOIST_ENGINE=swarm)
// is given.

// swarmEngine is the engine's name on the command line.
const swarmEngine = "swarm"

func (a *app) onSwarm() bool { return a.engineName == swarmEngine }

// routeSwarm wraps each command of root: the service-level ones run
// their swarm version on the swarm engine, the engine-free ones run as
// they are, the rest say they are not supported there.
func (a *app) routeSwarm(root *cobra.Command) {
	handlers := map[string]func(cmd *cobra.Command, args []string) error{
		"up": a.swarmUp, "down": a.swarmDown, "ps": a.swarmPs, "logs": a.swarmLogs,
		"restart": a.swarmRestart, "scale": a.swarmScale, "images": a.swarmImages, "ls": a.swarmLs,
	}
	engineFree := map[string]bool{"config": true, "version": true, "help": true, "completion": true, "graph": true}
	var wrap func(c *cobra.Command, path string)
	wrap = func(c *cobra.Command, path string) {
		for _, sub := range c.Commands() {
			name := strings.TrimSpace(path + " " + sub.Name())
			if engineFree[name] {
				continue
			}
			if sub.HasSubCommands() {
				wrap(sub, name)
			}
			if sub.RunE == nil && sub.Run == nil {
				continue
			}
			orig, origRun, h := sub.RunE, sub.Run, handlers[name]
			sub.Run = nil
			sub.RunE = func(cmd *cobra.Command, args []string) error {
				if !a.onSwarm() {
					if orig != nil {
						return orig(cmd, args)
					}
					origRun(cmd, args)
					return nil
				}
				if h == nil {
					return orchestrate.NotSupported(swarmEngine, "hoist "+name)
				}
				return h(cmd, args)
			}
		}
	}
	wrap(root, "")
}

// withServices opens the swarm engine for fn and closes it afterwards.
func (a *app) withServices(ctx context.Context, fn func(o *orchestrate.Services) error) error {
	o, err := a.services(ctx)
	if err != nil {
		return err
	}
	defer o.Close()
	return fn(o)
}

// refuseFlags says which set flags the swarm engine has no meaning for.
func refuseFlags(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Changed {
			return orchestrate.NotSupported(swarmEngine, cmd.Name()+" --"+n)
		}
	}
	return nil
}

func (a *app) swarmUp(cmd *cobra.Command, args []string) error {
	if err := refuseFlags(cmd, "watch", "no-start", "abort-on-container-exit", "exit-code-from", "attach", "no-attach",
		"force-recreate", "no-recreate", "remove-orphans", "pull"); err != nil {
		return err
	}
	fl := cmd.Flags()
	detach, _ := fl.GetBool("detach")
	timeout, _ := fl.GetInt("wait-timeout")
	opts := orchestrate.ServicesUpOptions{Services: args, Detach: detach, WaitTimeout: time.Duration(timeout) * time.Second}
	opts.DryRun, _ = fl.GetBool("dry-run")
	opts.Build, _ = fl.GetBool("build")
	opts.NoBuild, _ = fl.GetBool("no-build")
	opts.NoDeps, _ = fl.GetBool("no-deps")
	opts.Strict, _ = fl.GetBool("strict")
	ctx := cmd.Context()
	p, err := a.load(ctx)
	if err != nil {
		return err
	}
	scale, _ := fl.GetStringArray("scale")
	if err := applyScale(p, scale); err != nil {
		return err
	}
	return a.withServices(ctx, func(o *orchestrate.Services) error {
		started := time.Now()
		res, err := o.Up(ctx, p, opts)
		if opts.DryRun && err == nil {
			fmt.Fprint(a.stdout, res.Plan())
			return nil
		}
		if err == nil && !detach {
			fmt.Fprintf(a.stderr, "converged in %.1fs\n", time.Since(started).Seconds())
		}
		return err
	})
}

func (a *app) swarmDown(cmd *cobra.Command, args []string) error {
	if err := refuseFlags(cmd, "rmi", "dry-run"); err != nil {
		return err
	}
	volumes, _ := cmd.Flags().GetBool("volumes")
	ctx := cmd.Context()
	name, p, err := a.projectName(ctx)
	if err != nil {
		return err
	}
	return a.withServices(ctx, func(o *orchestrate.Services) error {
		r, err := o.Down(ctx, name, p, volumes)
		for _, v := range slices.Sorted(maps.Keys(r.VolumesLeft)) {
			fmt.Fprintf(a.stderr, "WARN volume %s is left on %s: the manager cannot reach another node's volumes; remove it there (docker volume rm %s)\n",
				v, strings.Join(r.VolumesLeft[v], ", "), v)
		}
		return err
	})
}

// swarmTask is a task as ps --format json prints it.
type swarmTask struct {
	Name         string `json:"Name"`
	ID           string `json:"ID"`
	Service      string `json:"Service"`
	Slot         int    `json:"Slot"`
	Node         string `json:"Node"`
	State        string `json:"State"`
	DesiredState string `json:"DesiredState"`
	Error        string `json:"Error"`
	ExitCode     int    `json:"ExitCode"`
	Ports        string `json:"Ports"`
	Image        string `json:"Image"`
}

func (a *app) swarmPs(cmd *cobra.Command, args []string) error {
	if err := refuseFlags(cmd, "status", "filter"); err != nil {
		return err
	}
	fl := cmd.Flags()
	all, _ := fl.GetBool("all")
	quiet, _ := fl.GetBool("quiet")
	onlyServices, _ := fl.GetBool("services")
	format, _ := fl.GetString("format")
	ctx := cmd.Context()
	name, _, err := a.projectName(ctx)
	if err != nil {
		return err
	}
	return a.withServices(ctx, func(o *orchestrate.Services) error {
		ts, err := o.Tasks(ctx, name, args, all)
		if err != nil {
			return err
		}
		var rows []swarmTask
		for _, t := range ts {
			rows = append(rows, swarmTask{Name: t.Name(), ID: t.ID, Service: t.Service, Slot: t.Slot, Node: t.Node, State: t.State,
				DesiredState: t.DesiredState, Error: t.Error, ExitCode: t.ExitCode, Ports: taskPorts(t.Ports), Image: t.Image})
		}
		switch {
		case quiet:
			for _, r := range rows {
				fmt.Fprintln(a.stdout, r.ID)
			}
		case onlyServices:
			var names []string
			for _, r := range rows {
				if !slices.Contains(names, r.Service) {
					names = append(names, r.Service)
				}
			}
			for _, n := range names {
				fmt.Fprintln(a.stdout, n)
			}
		case format == "json":
			if rows == nil {
				rows = []swarmTask{}
			}
			b, _ := json.Marshal(rows)
			fmt.Fprintln(a.stdout, string(b))
		case format == "table" || format == "":
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tNODE\tSTATE\tDESIRED\tERROR\tPORTS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Node, r.State, r.DesiredState, r.Error, r.Ports)
			}
			return tw.Flush()
		default:
			return fmt.Errorf("ps --format %q: the swarm engine prints table or json", format)
		}
		return nil
	})
}

func taskPorts(ps []engine.PortBinding) string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("*:%d->%d/%s", p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(out, ", ")
}

func (a *app) swarmLogs(cmd *cobra.Command, args []string) error {
	if err := refuseFlags(cmd, "index"); err != nil {
		return err
	}
	fl := cmd.Flags()
	var opts engine.LogOptions
	opts.Follow, _ = fl.GetBool("follow")
	opts.Tail, _ = fl.GetString("tail")
	opts.Since, _ = fl.GetString("since")
	opts.Until, _ = fl.GetString("until")
	opts.Timestamps, _ = fl.GetBool("timestamps")
	ctx := cmd.Context()
	name, _, err := a.projectName(ctx)
	if err != nil {
		return err
	}
	return a.withServices(ctx, func(o *orchestrate.Services) error {
		return o.Logs(ctx, name, args, opts, a.stdout, a.stderr)
	})
}

// projectServices are the services named, or all of the compose file's.
func projectServices(p *types.Project, args []string) ([]string, error) {
	if len(args) > 0 {
		return args, nil
	}
	if p == nil {
		return nil, fmt.Errorf("name the services: there is no compose file to take them from")
	}
	return p.ServiceNames(), nil
}

func (a *app) swarmRestart(cmd *cobra.Command, args []string) error {
	ctx := cmd.Context()
	name, p, err := a.projectName(ctx)
	if err != nil {
		return err
	}
	services, err := projectServices(p, args)
	if err != nil {
		return err
	}
	return a.withServices(ctx, func(o *orchestrate.Services) error {
		return o.Restart(ctx, name, services, false)
	})
}

// parseScale reads scale's SERVICE=NUM arguments for the swarm engine.
func parseScale(args []string) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, s := range args {
		name, num, ok := strings.Cut(s, "=")
		n, err := strconv.ParseUint(num, 10, 32)
		if !ok || name == "" || err != nil {
			return nil, fmt.Errorf("scale %q: use SERVICE=NUM with NUM a whole number, as in web=3", s)
		}
		out[name] = n
	}
	return out, nil
}

func (a *app) swarmScale(cmd *cobra.Command, args []string) error {
	replicas, err := parseScale(args)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	name, _, err := a.projectName(ctx)
	if err != nil {
		return err
	}
	return a.withServices(ctx, func(o *orchestrate.Services) error {
		return o.Scale(ctx, name, replicas, false)
	})
}

// swarmImages lists the images the project's running tasks run, as the
// manager pinned them.
func (a *app) swarmImages(cmd *cobra.Command, args []string) error {
	format, _ := cmd.Flags().GetString("format")
	quiet, _ := cmd.Flags().GetBool("quiet")
	ctx := cmd.Context()
	name, _, err := a.projectName(ctx)
	if err != nil {
		return err
	}
	return a.withServices(ctx, func(o *orchestrate.Services) error {
		ts, err := o.Tasks(ctx, name, args, false)
		if err != nil {
			return err
		}
		type row struct {
			Service string `json:"Service"`
			Image   string `json:"Image"`
		}
		seen := map[row]bool{}
		var rows []row
		for _, t := range ts {
			r := row{t.Service, t.Image}
			if !seen[r] {
				seen[r] = true
				rows = append(rows, r)
			}
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].Service+rows[i].Image < rows[j].Service+rows[j].Image })
		switch {
		case quiet:
			for _, r := range rows {
				fmt.Fprintln(a.stdout, r.Image)
			}
		case format == "json":
			if rows == nil {
				rows = []row{}
			}
			b, _ := json.Marshal(rows)
			fmt.Fprintln(a.stdout, string(b))
		default:
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tIMAGE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\n", r.Service, r.Image)
			}
			return tw.Flush()
		}
		return nil
	})
}

func (a *app) swarmLs(cmd *cobra.Command, args []string) error {
	format, _ := cmd.Flags().GetString("format")
	ctx := cmd.Context()
	return a.withServices(ctx, func(o *orchestrate.Services) error {
		ps, err := o.Projects(ctx)
		if err != nil {
			return err
		}
		if format == "json" {
			type row struct {
				Name   string `json:"Name"`
				Status string `json:"Status"`
			}
			rows := []row{}
			for _, p := range ps {
				rows = append(rows, row{p.Name, fmt.Sprintf("running(%d/%d)", p.Running, p.Total)})
			}
			b, _ := json.Marshal(rows)
			fmt.Fprintln(a.stdout, string(b))
			return nil
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTASKS")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\trunning %d/%d\n", p.Name, p.Running, p.Total)
		}
		return tw.Flush()
	})
}
