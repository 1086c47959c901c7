// Package kube converts a loaded and validated compose project into
// Kubernetes objects (the k8s.io/api types), for `hoist convert
// kubernetes`. It maps each service's resolved configuration
// (compose.ResolveWith, the value every engine maps) and adds none of
// compose's rules; what Kubernetes cannot carry is a Problem naming the
// compose key, never dropped silently.
//
// The mapping keeps what a compose user relies on: every service gets a
// Service (headless when it publishes nothing), so every compose name
// resolves; network aliases are Services too; depends_on becomes init
// containers that wait; compose networks become NetworkPolicies that
// isolate as compose's networks do.
package kube

import (
	"fmt"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/hoist-dev/hoist/compose"
	"github.com/hoist-dev/hoist/runspec"
)

// Publish says how ports with a host port reach outside the cluster.
type Publish string

// Ways to publish.
const (
	PublishNodePort     Publish = "nodeport"
	PublishLoadBalancer Publish = "loadbalancer"
)

// DefaultWaitImage runs the init containers that wait for dependencies:
// it needs kubectl as its entrypoint's program.
const DefaultWaitImage = "registry.k8s.io/kubectl:v1.37.2"

// DefaultVolumeSize is a claim's size when the volume has no x-hoist-size.
const DefaultVolumeSize = "1Gi"

// Options say what to convert and how.
type Options struct {
	// Services to convert; all when empty. Their dependencies are not
	// added: the init containers wait for them by name.
	Services []string
	// Namespace is every object's namespace; "" leaves it to the apply.
	Namespace string
	// Publish is how host ports are published; "" is NodePort.
	Publish Publish
	// AllowHostPaths maps bind mounts to hostPath volumes instead of
	// refusing them.
	AllowHostPaths bool
	// WaitImage runs the depends_on waits; "" is DefaultWaitImage.
	WaitImage string
	// Images maps a service to the image to run instead of its image:
	// (a built and pushed image pinned by digest).
	Images map[string]string
	// ReadFile reads a secret's or config's file; nil refuses file-based
	// ones. It is injected so that the mapping stays pure.
	ReadFile func(path string) ([]byte, error)
}

// Problem is something of the project that Kubernetes cannot carry as
// written: an error, or a warning where the converted objects still
// work.
type Problem struct {
	// Service is the compose service, "" for a top-level key.
	Service string
	// Path is the key's path from the file's root, as
	// ["services", "web", "ulimits"], for compose.Locator.
	Path    []string
	Msg     string
	Hint    string
	Warning bool
}

func (p Problem) String() string {
	s := ""
	if p.Service != "" {
		s = fmt.Sprintf("service %q: ", p.Service)
	}
	s += p.Msg
	if p.Hint != "" {
		s += "; " + p.Hint
	}
	return s
}

// Result is the converted project.
type Result struct {
	// Objects are in apply order: access, configuration, storage,
	// Services, policies, then workloads.
	Objects  []Object
	Problems []Problem
}

// Errors are the problems that are not warnings.
func (r Result) Errors() []Problem {
	return slices.DeleteFunc(slices.Clone(r.Problems), func(p Problem) bool { return p.Warning })
}

// Warnings are the problems that are warnings.
func (r Result) Warnings() []Problem {
	return slices.DeleteFunc(slices.Clone(r.Problems), func(p Problem) bool { return !p.Warning })
}

// Object is one Kubernetes object: a pointer to a k8s.io/api type with
// its apiVersion and kind set.
type Object struct {
	APIVersion, Kind, Name string
	Value                  any
}

// converter holds one conversion's state; its parts read straight.
type converter struct {
	p        *types.Project
	o        Options
	objects  []Object
	problems []Problem
	// names are the Kubernetes names taken, by kind, to catch two compose
	// names that normalize alike.
	names map[string]map[string]string
	// kinds are the workload kinds of all the project's services, which
	// the waits of those converted name.
	kinds map[string]string
}

// Convert maps p, loaded and validated (compose.Load with Swarm set:
// secrets and configs are cluster objects), to Kubernetes objects.
func Convert(p *types.Project, o Options) (Result, error) {
	if o.Publish == "" {
		o.Publish = PublishNodePort
	}
	if o.WaitImage == "" {
		o.WaitImage = DefaultWaitImage
	}
	c := &converter{p: p, o: o, names: map[string]map[string]string{}, kinds: map[string]string{}}
	names := o.Services
	if len(names) == 0 {
		names = p.ServiceNames()
	}
	for _, n := range names {
		if _, ok := p.Services[n]; !ok {
			return Result{}, fmt.Errorf("no such service: %s", n)
		}
	}
	slices.Sort(names)
	for n, s := range p.Services {
		rc, err := compose.ResolveWith(p, s, compose.ResolveOptions{Swarm: true})
		if err != nil {
			return Result{}, fmt.Errorf("resolve service %q: %w", n, err)
		}
		c.kinds[n] = c.kind(service{ServiceConfig: s, c: rc})
	}
	var svcs []service
	for _, n := range names {
		s := p.Services[n]
		rc, err := compose.ResolveWith(p, s, compose.ResolveOptions{Swarm: true})
		if err != nil {
			return Result{}, fmt.Errorf("resolve service %q: %w", n, err)
		}
		svcs = append(svcs, service{ServiceConfig: s, c: rc})
	}
	c.volumes(svcs)
	for _, s := range svcs {
		c.service(s)
	}
	c.networkPolicies(svcs)
	c.waitAccess(svcs)
	sortObjects(c.objects)
	slices.SortStableFunc(c.problems, func(a, b Problem) int {
		return strings.Compare(a.Service, b.Service)
	})
	return Result{Objects: c.objects, Problems: c.problems}, nil
}

// service is a compose service and its resolved configuration.
type service struct {
	types.ServiceConfig
	c runspec.Container
}

// problem records a problem of key (dotted, below the service) of
// service svc; parts after a NUL are whole names that may hold dots
// (keyed), as a sysctl's name does.
func (c *converter) problem(warning bool, svc string, key, msg, hint string) {
	path := []string{}
	if svc != "" {
		path = append(path, "services", svc)
	}
	if key != "" {
		parts := strings.Split(key, "\x00")
		path = append(path, strings.Split(parts[0], ".")...)
		path = append(path, parts[1:]...)
	}
	c.problems = append(c.problems, Problem{Service: svc, Path: path, Msg: msg, Hint: hint, Warning: warning})
}

// keyed is the key of entry name of a mapping key, for problem.
func keyed(key, name string) string { return key + "\x00" + name }

func (c *converter) warn(svc, key, msg, hint string) { c.problem(true, svc, key, msg, hint) }
func (c *converter) fail(svc, key, msg, hint string) { c.problem(false, svc, key, msg, hint) }

func (c *converter) add(apiVersion, kind, name string, v any) {
	c.objects = append(c.objects, Object{APIVersion: apiVersion, Kind: kind, Name: name, Value: v})
}

// kindOrder is the apply order: what others refer to first.
var kindOrder = []string{"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service", "NetworkPolicy", "Job", "StatefulSet", "DaemonSet", "Deployment"}

func sortObjects(objs []Object) {
	slices.SortStableFunc(objs, func(a, b Object) int {
		if d := slices.Index(kindOrder, a.Kind) - slices.Index(kindOrder, b.Kind); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
}
