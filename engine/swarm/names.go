package swarm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
)

// Labels and names as docker stack gives them (docker/cli's
// cli/compose/convert), so that `docker stack ls|ps|services|rm` see a
// hoist project as a stack and hoist sees a stack as a project.
const (
	// LabelNamespace is on every object of a stack: services, their
	// containers, networks, configs, secrets and volumes.
	LabelNamespace = "com.docker.stack.namespace"
	// LabelImage is on a service: its image as the compose file names it
	// (before any digest is pinned).
	LabelImage = "com.docker.stack.image"

	// LabelSpecHash is on a service hoist made: the hash of the spec it
	// sent, so that a redeploy with nothing changed sends nothing.
	LabelSpecHash = "dev.hoist.spec-hash"
	// LabelTaskHash is on the containers of a service hoist made: the
	// hash of the task template they were made from, so that a wait
	// tells the tasks of the current spec from those being replaced
	// (Swarm's API does not say which spec version a task runs).
	LabelTaskHash = "dev.hoist.task-hash"
	// LabelContentHash is on a config or secret hoist made: the hash its
	// name ends with.
	LabelContentHash = "dev.hoist.content-hash"
	// LabelMode is on a service hoist made: compose's deploy.mode, which
	// tells a job run as a replicated service (see jobsAPI) from one.
	LabelMode = "dev.hoist.mode"
	// LabelObject is on a config or secret: its compose key.
	LabelObject = "dev.hoist.object"

	// Compose's own labels, as the docker engine puts them on containers.
	labelProject = "com.docker.compose.project"
	labelService = "com.docker.compose.service"
	labelEngine  = "dev.hoist.engine"
)

// specHashVersion changes when what the hash covers changes, so that an
// upgrade of hoist updates each service once rather than mixing meanings.
const specHashVersion = "hoist-swarm/1"

// Scope is a stack's name for one of its objects: "<project>_<name>".
func Scope(project, name string) string { return project + "_" + name }

// stackLabels returns labels with the namespace label added (a copy).
func stackLabels(project string, labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	maps.Copy(out, labels)
	out[LabelNamespace] = project
	return out
}

// hashJSON is a hex SHA-256 of v's JSON under a version tag; maps encode
// with sorted keys, so equal values hash equal.
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain data is hashed here; a failure is a bug.
		panic("swarm: hash: " + err.Error())
	}
	h := sha256.New()
	h.Write([]byte(specHashVersion))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// objectName is a config's or secret's name with its content hash: a
// change of content is a new object (Swarm allows no other change than
// labels), which the services that use it roll to, and the old one is
// removed once nothing refers to it. Names are at most 64 characters.
func objectName(name, hash string) string {
	const maxLen, hashLen = 64, 12
	if len(name) > maxLen-1-hashLen {
		name = name[:maxLen-1-hashLen]
	}
	return name + "_" + hash[:hashLen]
}

func sortedKeys[M ~map[string]V, V any](m M) []string { return slices.Sorted(maps.Keys(m)) }
