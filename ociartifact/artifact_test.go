package ociartifact

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push on an in-process registry: the manifest is docker compose's, in
// both OCI versions, and each layer's blob is the file.
func TestPush(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	files := []File{{Name: "/x/compose.yaml", Data: []byte("services:\n  a:\n    image: busybox\n")}, {Name: "/x/.env", Data: []byte("A=1\n"), Env: true}}
	for _, version := range []string{"1.1", "1.0"} {
		ref := host + "/proj:v" + version
		d, err := Push(context.Background(), ref, files, Options{OCIVersion: version, Version: "test"})
		if err != nil {
			t.Fatalf("Push %s: %v", version, err)
		}
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(r)
		if err != nil {
			t.Fatalf("get %s: %v", ref, err)
		}
		if desc.Digest.String() != d {
			t.Errorf("digest %s, Push said %s", desc.Digest, d)
		}
		var m manifest
		if err := json.Unmarshal(desc.Manifest, &m); err != nil {
			t.Fatal(err)
		}
		wantType, wantConfig := ArtifactType, emptyJSONMediaType
		if version == "1.0" {
			wantType, wantConfig = "", EmptyConfigMediaType
		}
		if m.ArtifactType != wantType || m.Config.MediaType != wantConfig || m.MediaType != "application/vnd.oci.image.manifest.v1+json" {
			t.Errorf("%s: manifest %+v", version, m)
		}
		if len(m.Layers) != 2 || m.Layers[0].MediaType != ComposeFileMediaType || m.Layers[0].Annotations[annotationFile] != "compose.yaml" ||
			m.Layers[1].MediaType != EnvFileMediaType || m.Layers[1].Annotations[annotationEnvFile] != ".env" {
			t.Fatalf("%s: layers %+v", version, m.Layers)
		}
		for i, l := range m.Layers {
			dg, err := name.NewDigest(host + "/proj@" + l.Digest)
			if err != nil {
				t.Fatal(err)
			}
			blob, err := remote.Layer(dg)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := blob.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != string(files[i].Data) {
				t.Errorf("%s: layer %d holds %q, want %q", version, i, b, files[i].Data)
			}
		}
	}
}
