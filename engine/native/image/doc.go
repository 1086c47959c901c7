// Package image is the native engine's OCI image store. It needs no daemon:
// blobs, unpacked layers and a reference index live under one root
// directory (by default /var/lib/hoist), shared safely by several hoist
// processes through flock.
//
// On-disk layout under the root:
//
//	blobs/sha256/<hex>        manifests, configs and layer blobs as fetched
//	layers/sha256/<hex>/      each layer unpacked once, keyed by diff_id;
//	                          an overlayfs lower dir (whiteouts in overlay form)
//	layers/sha256/<hex>.size  the layer's uncompressed tar size
//	index.json                references -> manifest and config digests
//	index.lock                flock: exclusive while index.json changes
//	gc.lock                   flock: shared by writers, exclusive for GC
//	tmp/                      staging; renamed into place when complete
//
// The package is Linux-only: unpacking uses openat2 and *at syscalls so
// that no symlink is ever followed while writing a layer.
package image
