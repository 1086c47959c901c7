package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeAPI fakes the few dockerAPI calls the unit tests exercise. The
// embedded interface is nil: a call to anything not faked here panics,
// which flags a test that reaches further than it means to.
type fakeAPI struct {
	dockerAPI

	version string

	containers []container.Summary
	networks   []network.Summary
	volumes    []*volume.Volume
	images     []image.Summary
	inspect    map[string]image.InspectResponse
	listFilter filters.Args

	createErr  error
	created    []string // names passed to ContainerCreate
	createdCfg *container.Config
	createdHC  *container.HostConfig
	createdNC  *network.NetworkingConfig
	connected  []string // "network/container"
	connectErr error
	removed    []string
	removeErr  error
	volumeErr  error
}

func (f *fakeAPI) ClientVersion() string { return f.version }

func (f *fakeAPI) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	f.listFilter = o.Filters
	return f.containers, nil
}

func (f *fakeAPI) NetworkList(context.Context, network.ListOptions) ([]network.Summary, error) {
	return f.networks, nil
}

func (f *fakeAPI) VolumeList(context.Context, volume.ListOptions) (volume.ListResponse, error) {
	return volume.ListResponse{Volumes: f.volumes}, nil
}

func (f *fakeAPI) ImageList(context.Context, image.ListOptions) ([]image.Summary, error) {
	return f.images, nil
}

func (f *fakeAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if img, ok := f.inspect[ref]; ok {
		return img, nil
	}
	return image.InspectResponse{}, fmt.Errorf("No such image: %s: %w", ref, cerrdefs.ErrNotFound)
}

func (f *fakeAPI) ContainerCreate(_ context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	if f.createErr != nil {
		return container.CreateResponse{}, f.createErr
	}
	f.created = append(f.created, name)
	f.createdCfg, f.createdHC, f.createdNC = cfg, hc, nc
	return container.CreateResponse{ID: "id-" + name}, nil
}

func (f *fakeAPI) NetworkConnect(_ context.Context, netID, ctrID string, _ *network.EndpointSettings) error {
	if f.connectErr != nil {
		return f.connectErr
	}
	f.connected = append(f.connected, netID+"/"+ctrID)
	return nil
}

func (f *fakeAPI) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	if f.removeErr != nil {
		return f.removeErr
	}
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeAPI) NetworkCreate(context.Context, string, network.CreateOptions) (network.CreateResponse, error) {
	return network.CreateResponse{}, fmt.Errorf("network with name x already exists: %w", cerrdefs.ErrConflict)
}

func (f *fakeAPI) VolumeInspect(_ context.Context, name string) (volume.Volume, error) {
	if f.volumeErr != nil {
		return volume.Volume{}, f.volumeErr
	}
	return volume.Volume{Name: name}, nil
}
