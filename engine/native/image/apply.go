package image

import v1 "github.com/google/go-containerregistry/pkg/v1"

// ApplyChanges applies Dockerfile instructions (CMD, ENV, LABEL, ...) to
// an image config, as docker import and commit take them with -c.
func ApplyChanges(cfg *v1.Config, changes []string) error { return applyChanges(cfg, changes) }
