package runtime

import (
	"bytes"
	"reflect"
	goruntime "runtime"
	"testing"

	capset "github.com/hoist-dev/hoist/engine/native/runtime/caps"
)

// A blob older than the profile translation would give containers
// yesterday's filter: go generate must be rerun.
func TestEmbeddedSeccompIsCurrent(t *testing.T) {
	emb, err := initbinFS.ReadFile(seccompBlobFile)
	if err != nil {
		t.Skip("no embedded seccomp program (go generate ./engine/native/runtime makes it)")
	}
	fresh, err := DefaultSeccompBlob()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(emb, fresh) {
		t.Fatal("initbin/seccomp-default.bin is stale: run go generate ./engine/native/runtime")
	}
	caps, _ := Security{}.capabilities()
	if embeddedSeccomp(caps) == nil {
		t.Fatal("the embedded program is not used for Docker's default capabilities")
	}
	// With the default set inside hoist's bounding set (always as root),
	// seccompFor serves the embedded program, equal to a fresh compile.
	if caps&capset.Bounding() == caps {
		seccompCache.Lock()
		seccompCache.progs = nil
		seccompCache.Unlock()
		got, err := seccompFor(Security{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := compileDefaultSeccomp(caps)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatal("seccompFor differs from a fresh compile")
		}
	}
}

func TestSeccompBlobIsForOneArchAndCapSet(t *testing.T) {
	caps, _ := Security{}.capabilities()
	prog, err := compileDefaultSeccomp(caps)
	if err != nil {
		t.Fatal(err)
	}
	blob := encodeSeccompBlob(goruntime.GOARCH, caps, prog)
	if got := decodeSeccompBlob(blob, caps); !reflect.DeepEqual(got, prog) {
		t.Fatal("round trip changed the program")
	}
	other := "arm64"
	if goruntime.GOARCH == "arm64" {
		other = "amd64"
	}
	for name, b := range map[string][]byte{
		"other arch":   encodeSeccompBlob(other, caps, prog),
		"other caps":   encodeSeccompBlob(goruntime.GOARCH, caps|1<<21, prog),
		"cut short":    blob[:len(blob)-3],
		"no header":    blob[bytes.IndexByte(blob, '\n')+1:],
		"other format": append([]byte("hoist-seccomp 2"), blob[len("hoist-seccomp 1"):]...),
	} {
		if decodeSeccompBlob(b, caps) != nil {
			t.Errorf("%s: blob accepted", name)
		}
	}
}
