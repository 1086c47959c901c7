// Package ociartifact is a compose project as an OCI artifact, as docker
// compose publish makes it and docker compose -f oci://... reads it: an
// image manifest whose layers are the compose files (and, on request,
// env files), each with its media type and annotations, pushed to a
// registry.
package ociartifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotations docker compose gives the artifact.
const (
	ArtifactType         = "application/vnd.docker.compose.project"
	ComposeFileMediaType = "application/vnd.docker.compose.file+yaml"
	EnvFileMediaType     = "application/vnd.docker.compose.envfile"
	// EmptyConfigMediaType is the config's type of an OCI 1.0 artifact,
	// which has no artifactType to say what it is.
	EmptyConfigMediaType = "application/vnd.docker.compose.config.empty.v1+json"
	emptyJSONMediaType   = "application/vnd.oci.empty.v1+json"

	annotationVersion = "com.docker.compose.version"
	annotationFile    = "com.docker.compose.file"
	annotationEnvFile = "com.docker.compose.envfile"
)

// File is one layer: a compose file, or with Env an env file.
type File struct {
	// Name is the file's base name, its annotation.
	Name string
	Data []byte
	Env  bool
}

// Options control Push.
type Options struct {
	// OCIVersion is "1.1" (artifactType), "1.0" (a config media type
	// instead), or "" for 1.1 falling back to 1.0 where the registry
	// refuses it.
	OCIVersion string
	// Version is the tool's version, annotated on each layer.
	Version string
	// Now is the manifest's creation time; zero means now.
	Now time.Time
	// Insecure speaks plain HTTP to the registry (loopback ones always).
	Insecure bool
}

// descriptor is an OCI content descriptor, with the fields this artifact
// uses.
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// manifest is an OCI image manifest.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// rawManifest is a manifest remote.Put sends as it is.
type rawManifest struct {
	data      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.data, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

// Push uploads files as the artifact ref (REPOSITORY[:TAG]) and returns
// the manifest's digest. Credentials come from the Docker config, as for
// pushes of images; a registry on a loopback address is spoken to over
// plain HTTP.
func Push(ctx context.Context, ref string, files []File, opts Options) (string, error) {
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return "", fmt.Errorf("publish %s: %w", ref, err)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	var layers []descriptor
	for _, f := range files {
		mt, key := ComposeFileMediaType, annotationFile
		if f.Env {
			mt, key = EnvFileMediaType, annotationEnvFile
		}
		if err := remote.WriteLayer(r.Context(), static.NewLayer(f.Data, types.MediaType(mt)), ropts...); err != nil {
			return "", fmt.Errorf("publish %s: %s: %w", ref, f.Name, err)
		}
		layers = append(layers, descriptor{
			MediaType: mt, Digest: digestOf(f.Data), Size: int64(len(f.Data)),
			Annotations: map[string]string{annotationVersion: opts.Version, key: filepath.Base(f.Name)},
		})
	}
	switch opts.OCIVersion {
	case "1.0", "1.1":
		return putManifest(r, layers, opts, opts.OCIVersion, ropts)
	case "":
		d, err := putManifest(r, layers, opts, "1.1", ropts)
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode >= 400 && te.StatusCode < 500 &&
			te.StatusCode != http.StatusUnauthorized && te.StatusCode != http.StatusForbidden && te.StatusCode != http.StatusProxyAuthRequired {
			// A registry without OCI 1.1 refuses artifactType.
			return putManifest(r, layers, opts, "1.0", ropts)
		}
		return d, err
	}
	return "", fmt.Errorf("publish: --oci-version %q: use 1.0 or 1.1", opts.OCIVersion)
}

// putManifest writes the config blob and the manifest of version.
func putManifest(r name.Reference, layers []descriptor, opts Options, version string, ropts []remote.Option) (string, error) {
	config := []byte("{}")
	m := manifest{SchemaVersion: 2, MediaType: string(types.OCIManifestSchema1), Layers: layers}
	if version == "1.1" {
		m.ArtifactType = ArtifactType
		m.Config = descriptor{MediaType: emptyJSONMediaType, Digest: digestOf(config), Size: int64(len(config))}
	} else {
		m.Config = descriptor{MediaType: EmptyConfigMediaType, Digest: digestOf(config), Size: int64(len(config))}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	m.Annotations = map[string]string{"org.opencontainers.image.created": now.Format(time.RFC3339)}
	if m.Layers == nil {
		m.Layers = []descriptor{}
	}
	if err := remote.WriteLayer(r.Context(), static.NewLayer(config, types.MediaType(m.Config.MediaType)), ropts...); err != nil {
		return "", fmt.Errorf("publish %s: config: %w", r, err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	if err := remote.Put(r, rawManifest{data: raw, mediaType: types.OCIManifestSchema1}, ropts...); err != nil {
		return "", fmt.Errorf("publish %s: %w", r, err)
	}
	return digestOf(raw), nil
}
