package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/hoist-dev/hoist/orchestrate"
)

func newPublish(a *app) *cobra.Command {
	var opts orchestrate.PublishOptions
	var yes, resolveDigests, appImages bool
	c := &cobra.Command{
		Use:   "publish [OPTIONS] REPOSITORY[:TAG]",
		Short: "Publish compose application",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if resolveDigests || appImages {
				return errors.New("publish: --resolve-image-digests and --app are not supported by hoist yet")
			}
			opts.Version = version
			opts.Confirm = func(msg string) bool {
				if yes {
					return true
				}
				f, ok := a.stdin.(*os.File)
				if !ok || !isTerminal(f) {
					fmt.Fprintln(a.stderr, msg)
					fmt.Fprintln(a.stderr, "(no terminal to answer on: pass -y to publish anyway)")
					return false
				}
				fmt.Fprint(a.stderr, msg+" [y/N] ")
				line, _ := bufio.NewReader(f).ReadString('\n')
				return strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
			}
			return a.withProject(ctx, func(p *types.Project, o *orchestrate.Orchestrator) error {
				d, err := o.Publish(ctx, p, args[0], opts)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, d)
				return nil
			})
		},
	}
	fl := c.Flags()
	fl.BoolVar(&resolveDigests, "resolve-image-digests", false, "pin image tags to digests (not supported yet)")
	fl.StringVar(&opts.OCIVersion, "oci-version", "", "OCI image/artifact specification version (automatically determined by default)")
	fl.BoolVar(&opts.WithEnv, "with-env", false, "include environment variables in the published OCI artifact")
	fl.BoolVarP(&yes, "yes", "y", false, `assume "yes" as answer to all prompts`)
	fl.BoolVar(&appImages, "app", false, "published compose application (includes referenced images; not supported yet)")
	fl.BoolVar(&opts.Insecure, "insecure-registry", false, "use insecure registry")
	_ = fl.MarkHidden("insecure-registry")
	return c
}
