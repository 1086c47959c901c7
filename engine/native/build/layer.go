package build

import "io"

// WriteLayer writes an overlayfs upper dir as an OCI layer tar (whiteouts
// and opaque directories as the format says): a RUN step's, or a
// container's for commit. Over a merged (mounted) view it is the whole
// file system, for export.
func WriteLayer(w io.Writer, upper string) error { return writeDiff(w, upper) }
