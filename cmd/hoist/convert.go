package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/convert/kube"
	"github.com/hoist-dev/hoist/orchestrate"
)

func newConvert(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "convert",
		Short: "Convert the project for another orchestrator",
	}
	c.AddCommand(newConvertKubernetes(a))
	return c
}

// convertKubeOptions are `convert kubernetes`'s flags.
type convertKubeOptions struct {
	dir, format, namespace, publish, waitImage string
	allowHostPaths, strict, push               bool
}

func newConvertKubernetes(a *app) *cobra.Command {
	var o convertKubeOptions
	c := &cobra.Command{
		Use:     "kubernetes [SERVICE...]",
		Aliases: []string{"kube", "k8s"},
		Short:   "Print Kubernetes objects for the project (one YAML stream, or -o DIR)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.convertKubernetes(cmd, args, o)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.dir, "output", "o", "", "write one file per object into this directory instead of stdout")
	f.StringVar(&o.format, "format", kube.FormatYAML, "yaml or json")
	f.StringVar(&o.namespace, "namespace", "", "the objects' namespace")
	f.StringVar(&o.publish, "publish", string(kube.PublishNodePort), "how ports with a host port are published: nodeport or loadbalancer")
	f.StringVar(&o.waitImage, "wait-image", kube.DefaultWaitImage, "image with kubectl that runs the depends_on waits")
	f.BoolVar(&o.allowHostPaths, "allow-host-paths", false, "map bind mounts to hostPath volumes instead of refusing them")
	f.BoolVar(&o.strict, "strict", false, "fail on any key that cannot be carried")
	f.BoolVar(&o.push, "push", false, "build the images of services with build: and image:, push them, and pin them by digest")
	return c
}

func (a *app) convertKubernetes(cmd *cobra.Command, services []string, o convertKubeOptions) error {
	if o.publish != string(kube.PublishNodePort) && o.publish != string(kube.PublishLoadBalancer) {
		return fmt.Errorf("--publish %q: use nodeport or loadbalancer", o.publish)
	}
	if o.format != kube.FormatYAML && o.format != kube.FormatJSON {
		return fmt.Errorf("--format %q: use yaml or json", o.format)
	}
	lo := a.loadOptions()
	// Secrets and configs are cluster objects, as a swarm's are.
	lo.Swarm = true
	p, loc, err := compose.LoadLocated(cmd.Context(), lo)
	if err != nil {
		return err
	}
	kopts := kube.Options{
		Services: services, Namespace: o.namespace, Publish: kube.Publish(o.publish),
		AllowHostPaths: o.allowHostPaths, WaitImage: o.waitImage, ReadFile: os.ReadFile,
	}
	res, err := kube.Convert(p, kopts)
	if err != nil {
		return err
	}
	if err := a.convertProblems(res, loc, o.strict); err != nil {
		return err
	}
	if o.push {
		// Only a project that converts is built and pushed; its images
		// are then pinned by the digests the registry serves.
		err := a.withOrchestrator(cmd.Context(), func(orc *orchestrate.Orchestrator) error {
			var err error
			kopts.Images, err = orc.BuildPushPinned(cmd.Context(), p, services)
			return err
		})
		if err != nil {
			return err
		}
		if res, err = kube.Convert(p, kopts); err != nil {
			return err
		}
	}
	if o.dir != "" {
		names, err := kube.WriteDir(o.dir, res.Objects, o.format)
		if err != nil {
			return err
		}
		for _, n := range names {
			fmt.Fprintln(a.stdout, filepath.Join(o.dir, n))
		}
		return nil
	}
	out, err := kube.Encode(res.Objects, o.format)
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(out)
	return err
}

// convertProblems prints the warnings with their file and line and
// returns the errors (the warnings too, with strict).
func (a *app) convertProblems(res kube.Result, loc *compose.Locator, strict bool) error {
	located := func(pr kube.Problem) string {
		file, line := loc.Locate(pr.Path...)
		if file == "" || len(pr.Path) == 0 {
			return pr.String()
		}
		return fmt.Sprintf("%s:%d: %s", file, line, pr)
	}
	var errs []error
	for _, pr := range res.Problems {
		if pr.Warning && !strict {
			fmt.Fprintln(a.stderr, "WARN "+located(pr))
			continue
		}
		errs = append(errs, errors.New(located(pr)))
	}
	if len(errs) > 0 && strict && len(res.Errors()) == 0 {
		errs = append(errs, errors.New("--strict: every key above must be carried"))
	}
	return errors.Join(errs...)
}
