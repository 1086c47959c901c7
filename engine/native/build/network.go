package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/hoist-dev/hoist/engine/native/runtime"
)

// Network gives RUN steps a network namespace of their own, attached to a
// bridge with outbound NAT, as Docker's builders do (the classic one and
// BuildKit both run RUN steps on the default bridge). The builder makes no
// network itself: the engine injects one (engine/native's, on
// engine/native/network), so this package stays free of bridges, nftables
// and their records.
type Network interface {
	// Open makes the network of one build. It is called once per build,
	// when its first RUN step needs a network; Close on the result removes
	// all of it.
	Open(ctx context.Context) (BuildNetwork, error)
}

// BuildNetwork is the network of one build.
type BuildNetwork interface {
	// Attach makes a fresh network namespace for the RUN step id (a
	// runtime.Spec ID), plugged into the build's bridge, with a default
	// route through it.
	Attach(ctx context.Context, id string) (StepNetwork, error)
	// Release removes what Attach made for id; the step has exited. It
	// may finish in the background: Close waits for it.
	Release(ctx context.Context, id string)
	// Close removes the build's network and whatever is still attached.
	// It runs to the end even when ctx is cancelled.
	Close(ctx context.Context) error
}

// StepNetwork is what a RUN step starts with.
type StepNetwork struct {
	// Netns is the network namespace to join (runtime.NetworkJoin).
	Netns string
	// Hosts and ResolvConf are files of the step's own, for /etc/hosts
	// and /etc/resolv.conf; "" leaves the image's.
	Hosts      string
	ResolvConf string
	// Warning, when set, is said once per build (the host's nameservers
	// cannot be reached from the namespace, say).
	Warning string
}

// errHostNetwork refuses RUN --network=host in a build not allowed the
// host's network.
var errHostNetwork = errors.New("--network=host: the host's network is not allowed in this build (BuildKit's network.host entitlement); " +
	"give the service build.network: host (every RUN step on the host's network) or build.entitlements: [network.host] in compose.yaml")

// stepMode is the network a RUN step gets: its --network flag within
// what the build allows (spec.Network, spec.Entitlements).
type stepMode int

const (
	stepBridge stepMode = iota // a namespace of its own on the build's bridge
	stepNone                   // a namespace with only lo
	stepHost                   // the host's
)

// stepNetworkMode decides a RUN step's network. The build's network
// (compose build.network) is every step's default; --network=none always
// wins; --network=host needs the build to allow it, as BuildKit requires
// the network.host entitlement (which compose grants for build.network:
// host or build.entitlements: [network.host]), and is refused outright in
// a build whose network is none.
func (j *job) stepNetworkMode(flag string) (stepMode, error) {
	build, err := buildNetworkMode(j.spec.Network)
	if err != nil {
		return 0, err
	}
	switch flag {
	case instructions.NetworkNone:
		return stepNone, nil
	case instructions.NetworkHost:
		if build == stepNone {
			return 0, errors.New("--network=host in a build whose network is none (build.network: none)")
		}
		if build != stepHost && !slices.Contains(j.spec.Entitlements, "network.host") {
			return 0, errHostNetwork
		}
		return stepHost, nil
	case instructions.NetworkDefault, "":
		return build, nil
	}
	return 0, fmt.Errorf("--network=%s: unknown network mode", flag)
}

// buildNetworkMode is compose's build.network as a step's default.
func buildNetworkMode(n string) (stepMode, error) {
	switch n {
	case "", "default", "bridge":
		return stepBridge, nil
	case "none":
		return stepNone, nil
	case "host":
		return stepHost, nil
	}
	return 0, fmt.Errorf("build.network %q: %w (host, none or default)", n, errUnsupported)
}

// buildNet opens the build's network on the first step that needs it, so
// that a build whose RUN steps are all cached never makes one.
type buildNet struct {
	mu     sync.Mutex
	net    BuildNetwork
	warned bool
}

// stepNetwork prepares spec's network for mode (spec.Network, and the
// files for spec.Hosts and spec.ResolvConf); release undoes it once the
// step has exited.
func (j *job) stepNetwork(ctx context.Context, mode stepMode, spec *runtime.Spec, pfx string) (release func(), err error) {
	switch mode {
	case stepNone:
		spec.Network.Mode = runtime.NetworkNew
		return func() {}, nil
	case stepHost:
		spec.Network.Mode = runtime.NetworkHost
		// Copies of the host's files: a step must not write the host's
		// own /etc/hosts through a bind mount.
		dir, err := j.tmpDir("hostnet-")
		if err != nil {
			return nil, err
		}
		for _, f := range []struct {
			host string
			dst  *string
		}{{"/etc/hosts", &spec.Hosts}, {"/etc/resolv.conf", &spec.ResolvConf}} {
			data, err := os.ReadFile(f.host)
			if err != nil {
				continue
			}
			p := filepath.Join(dir, filepath.Base(f.host))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
			*f.dst = p
		}
		return func() { os.RemoveAll(dir) }, nil
	}
	if j.b.net == nil {
		// No network injected (the builder on its own, in tests): lo only
		// rather than anything wider.
		spec.Network.Mode = runtime.NetworkNew
		return func() {}, nil
	}
	bn, err := j.openNetwork(ctx)
	if err != nil {
		return nil, err
	}
	sn, err := bn.Attach(ctx, spec.ID)
	if err != nil {
		bn.Release(context.WithoutCancel(ctx), spec.ID)
		return nil, fmt.Errorf("network: %w", err)
	}
	release = func() { bn.Release(context.WithoutCancel(ctx), spec.ID) }
	spec.Network = runtime.Network{Mode: runtime.NetworkJoin, Path: sn.Netns}
	spec.Hosts, spec.ResolvConf = sn.Hosts, sn.ResolvConf
	if sn.Warning != "" {
		j.net.mu.Lock()
		if !j.net.warned {
			j.net.warned = true
			j.progress(pfx + " WARNING: " + sn.Warning)
		}
		j.net.mu.Unlock()
	}
	return release, nil
}

// openNetwork is the build's network, opened on first use and closed
// when the build ends.
func (j *job) openNetwork(ctx context.Context) (BuildNetwork, error) {
	j.net.mu.Lock()
	defer j.net.mu.Unlock()
	if j.net.net != nil {
		return j.net.net, nil
	}
	bn, err := j.b.net.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	j.net.net = bn
	return bn, nil
}

// closeNetwork removes the build's network, if it made one.
func (j *job) closeNetwork(ctx context.Context) error {
	j.net.mu.Lock()
	defer j.net.mu.Unlock()
	if j.net.net == nil {
		return nil
	}
	err := j.net.net.Close(context.WithoutCancel(ctx))
	j.net.net = nil
	return err
}
