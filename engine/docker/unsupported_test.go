package docker

import (
	"reflect"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestUnsupported(t *testing.T) {
	if got := unsupportedFields(fullService()); len(got) != 0 {
		t.Errorf("fully supported service reported %v", got)
	}
	s := fullService()
	s.Secrets = []types.ServiceSecretConfig{{Source: "pw"}} // given as mounts and files by orchestrate
	s.Links = []string{"db"}
	s.MacAddress = "02:42:ac:11:00:02"
	s.Volumes = append(s.Volumes, types.ServiceVolumeConfig{Type: "npipe", Source: `\\.\pipe\x`, Target: `\\.\pipe\x`})
	want := []string{"mac_address", "links", "volumes type npipe"}
	if got := (&Backend{}).Unsupported(s); !reflect.DeepEqual(got, want) {
		t.Errorf("Unsupported = %v, want %v", got, want)
	}
}
