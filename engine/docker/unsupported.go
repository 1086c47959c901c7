package docker

import (
	"github.com/compose-spec/compose-go/v2/types"
)

// Unsupported lists the compose fields set on svc that this backend does
// not apply, so that the caller can warn once, naming them, instead of
// silently dropping them. Fields the caller resolves before CreateContainer
// (build, depends_on, scale, profiles, develop) are not listed.
func (b *Backend) Unsupported(svc types.ServiceConfig) []string {
	return unsupportedFields(svc)
}

func unsupportedFields(svc types.ServiceConfig) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(len(svc.Gpus) > 0, "gpus")
	add(svc.Deploy != nil && svc.Deploy.Resources.Reservations != nil && len(svc.Deploy.Resources.Reservations.Devices) > 0,
		"deploy.resources.reservations.devices")
	add(svc.BlkioConfig != nil && (len(svc.BlkioConfig.WeightDevice) > 0 || len(svc.BlkioConfig.DeviceReadBps) > 0 ||
		len(svc.BlkioConfig.DeviceReadIOps) > 0 || len(svc.BlkioConfig.DeviceWriteBps) > 0 || len(svc.BlkioConfig.DeviceWriteIOps) > 0),
		"blkio_config devices")
	add(svc.CPUCount != 0, "cpu_count")
	add(svc.CPUPercent != 0, "cpu_percent")
	add(svc.MacAddress != "", "mac_address")
	add(len(svc.Links) > 0, "links")
	add(len(svc.ExternalLinks) > 0, "external_links")
	add(svc.Isolation != "", "isolation")
	add(len(svc.Annotations) > 0, "annotations")
	add(svc.CredentialSpec != nil, "credential_spec")
	add(svc.Umask != nil, "umask")
	add(svc.UseAPISocket, "use_api_socket")
	add(len(svc.PreStart) > 0, "pre_start")
	add(len(svc.PostStart) > 0, "post_start")
	add(len(svc.PreStop) > 0, "pre_stop")
	add(len(svc.Models) > 0, "models")
	add(svc.Provider != nil, "provider")
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind && v.Type != types.VolumeTypeVolume && v.Type != types.VolumeTypeTmpfs {
			out = append(out, "volumes type "+v.Type)
		}
	}
	return out
}
