package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/engine"
)

// fakeBackend is an in-memory engine for testing orchestration logic: it
// records calls and can fail or block chosen operations.
type fakeBackend struct {
	mu         sync.Mutex
	containers map[string]*engine.Container // by ID
	networks   map[string]engine.Network
	volumes    map[string]engine.Volume
	images     map[string]string
	calls      []string
	nextID     int
	// failStart makes StartContainer fail for this container name.
	failStart string
	// failPull makes Pull fail for this reference.
	failPull string
	// blockWait makes Wait block until ctx ends for this container name.
	blockWait string
	// waiting is closed when a blocked Wait begins.
	waiting chan struct{}
}

func newFake() *fakeBackend {
	return &fakeBackend{containers: map[string]*engine.Container{}, networks: map[string]engine.Network{}, volumes: map[string]engine.Volume{}, images: map[string]string{}, waiting: make(chan struct{})}
}

func (f *fakeBackend) record(s string) {
	f.calls = append(f.calls, s)
}

func (f *fakeBackend) Name() string { return "fake" }
func (f *fakeBackend) Close() error { return nil }

func (f *fakeBackend) Observe(ctx context.Context, project string, refs []string) (*engine.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &engine.State{ImageIDs: map[string]string{}}
	for _, c := range f.containers {
		if c.Project == project {
			st.Containers = append(st.Containers, *c)
		}
	}
	sort.Slice(st.Containers, func(i, j int) bool { return st.Containers[i].Name < st.Containers[j].Name })
	for _, n := range f.networks {
		if n.Labels[engine.LabelProject] == project {
			st.Networks = append(st.Networks, n)
		}
	}
	for _, v := range f.volumes {
		if v.Labels[engine.LabelProject] == project {
			st.Volumes = append(st.Volumes, v)
		}
	}
	for _, r := range refs {
		if id, ok := f.images[r]; ok {
			st.ImageIDs[r] = id
		}
	}
	return st, nil
}

func (f *fakeBackend) ImageID(ctx context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.images[ref]; ok {
		return id, nil
	}
	return "", fmt.Errorf("image %s: %w", ref, engine.ErrNotFound)
}

func (f *fakeBackend) Pull(ctx context.Context, ref string, _ func(string)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("pull " + ref)
	if ref == f.failPull {
		return errors.New("no registry")
	}
	f.images[ref] = "sha256:" + ref
	return nil
}

func (f *fakeBackend) CreateNetwork(ctx context.Context, s engine.NetworkSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.networks[s.Name]; ok {
		return fmt.Errorf("network %s: %w", s.Name, engine.ErrConflict)
	}
	f.record("create network " + s.Name)
	f.networks[s.Name] = engine.Network{ID: s.Name, Name: s.Name, Labels: s.Labels}
	return nil
}

func (f *fakeBackend) RemoveNetwork(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.networks[name]; !ok {
		return fmt.Errorf("network %s: %w", name, engine.ErrNotFound)
	}
	f.record("remove network " + name)
	delete(f.networks, name)
	return nil
}

func (f *fakeBackend) CreateVolume(ctx context.Context, s engine.VolumeSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create volume " + s.Name)
	f.volumes[s.Name] = engine.Volume{Name: s.Name, Labels: s.Labels}
	return nil
}

func (f *fakeBackend) RemoveVolume(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("remove volume " + name)
	delete(f.volumes, name)
	return nil
}

func (f *fakeBackend) CreateContainer(ctx context.Context, s engine.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("c%d", f.nextID)
	f.record("create " + s.Name)
	f.containers[id] = &engine.Container{ID: id, Name: s.Name, Project: s.Project, Service: s.Service, Number: s.Number,
		ConfigHash: s.Config.Labels[engine.LabelConfigHash], Image: s.Config.Image, State: engine.StateCreated, Labels: s.Config.Labels}
	return id, nil
}

func (f *fakeBackend) find(id string) (*engine.Container, error) {
	if c, ok := f.containers[id]; ok {
		return c, nil
	}
	for _, c := range f.containers {
		if c.Name == id {
			return c, nil
		}
	}
	return nil, fmt.Errorf("container %s: %w", id, engine.ErrNotFound)
}

func (f *fakeBackend) StartContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.find(id)
	if err != nil {
		return err
	}
	if c.Name == f.failStart {
		return fmt.Errorf("start %s: boom", c.Name)
	}
	f.record("start " + c.Name)
	c.State = engine.StateRunning
	return nil
}

func (f *fakeBackend) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.find(id)
	if err != nil {
		return err
	}
	f.record("stop " + c.Name)
	c.State = engine.StateExited
	return nil
}

func (f *fakeBackend) RemoveContainer(ctx context.Context, id string, o engine.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.find(id)
	if err != nil {
		return err
	}
	f.record("remove " + c.Name)
	delete(f.containers, c.ID)
	return nil
}

func (f *fakeBackend) Wait(ctx context.Context, id string, cond engine.WaitCondition) (engine.Container, error) {
	f.mu.Lock()
	c, err := f.find(id)
	if err != nil {
		f.mu.Unlock()
		return engine.Container{}, err
	}
	block := c.Name == f.blockWait
	f.record("wait " + cond.String() + " " + c.Name)
	cp := *c
	f.mu.Unlock()
	if block {
		close(f.waiting)
		<-ctx.Done()
		return engine.Container{}, ctx.Err()
	}
	return cp, nil
}

// Logs writes the container's name and returns: as a follow that ended
// because the container exited.
func (f *fakeBackend) Logs(ctx context.Context, id string, o engine.LogOptions, stdout, stderr io.Writer) error {
	f.mu.Lock()
	c, err := f.find(id)
	if err == nil {
		f.record(fmt.Sprintf("logs %s since=%t", c.Name, o.Since != ""))
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, "output of", c.Name)
	return err
}

func (f *fakeBackend) callLog() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, "\n")
}

var _ engine.Backend = (*fakeBackend)(nil)
