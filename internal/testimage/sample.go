package testimage

// The sample's images (samples/flask-redis), made offline from the one
// Debian rootfs that samples/images/build.sh builds: their names and
// their image configs, as `hoist image import --change` instructions.
// samples/images/load.sh gives the same configs to both engines; the Go
// side that imports the rootfs itself (a rootless user's store, a store
// of its own) takes them from here.
const (
	SamplePython = "hoist-local/python:3.11-bookworm"
	SampleRedis  = "hoist-local/redis:7-bookworm"
)

const samplePath = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// SampleChanges is the image config of SamplePython or SampleRedis (nil
// for another name). Redis runs with protected mode off, as the official
// image does: its clients are other containers.
func SampleChanges(ref string) []string {
	switch ref {
	case SamplePython:
		return []string{samplePath, "ENV LANG=C.UTF-8", "ENV PIP_NO_INDEX=1", `CMD ["python3"]`}
	case SampleRedis:
		return []string{samplePath, "WORKDIR /data", "EXPOSE 6379", `CMD ["redis-server", "--protected-mode", "no"]`}
	}
	return nil
}

// SampleImportArgs is the hoist command line (after the binary) that
// imports the sample rootfs at rootfs as ref.
func SampleImportArgs(rootfs, ref string) []string {
	args := []string{"image", "import"}
	for _, c := range SampleChanges(ref) {
		args = append(args, "--change", c)
	}
	return append(args, rootfs, ref)
}
