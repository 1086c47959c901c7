package seccomp

import (
	"bytes"
	"reflect"
	"runtime"
	"testing"

	"github.com/hoist-dev/hoist/engine/native/runtime/caps"
)

// A blob older than the profile translation would give containers
// yesterday's filter: go generate must be rerun.
func TestEmbeddedSeccompIsCurrent(t *testing.T) {
	emb, err := generated.ReadFile(blobFile)
	if err != nil {
		t.Skip("no embedded seccomp program (go generate ./engine/native/runtime makes it)")
	}
	fresh, err := DefaultBlob()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(emb, fresh) {
		t.Fatal("generated/default.bin is stale: run go generate ./engine/native/runtime")
	}
	set, _ := caps.For(false, nil, nil)
	if embedded(set) == nil {
		t.Fatal("the embedded program is not used for Docker's default capabilities")
	}
	// With the default set inside hoist's bounding set (always as root),
	// the runtime asks Default for it, which serves the embedded program,
	// equal to a fresh compile.
	if set&caps.Bounding() == set {
		cache.Lock()
		cache.progs = nil
		cache.Unlock()
		got, err := Default(set)
		if err != nil {
			t.Fatal(err)
		}
		want, err := compileDefault(set)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatal("Default differs from a fresh compile")
		}
	}
}

func TestSeccompBlobIsForOneArchAndCapSet(t *testing.T) {
	set, _ := caps.For(false, nil, nil)
	prog, err := compileDefault(set)
	if err != nil {
		t.Fatal(err)
	}
	blob := encodeBlob(runtime.GOARCH, set, prog)
	if got := decodeBlob(blob, set); !reflect.DeepEqual(got, prog) {
		t.Fatal("round trip changed the program")
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	for name, b := range map[string][]byte{
		"other arch":   encodeBlob(other, set, prog),
		"other caps":   encodeBlob(runtime.GOARCH, set|1<<21, prog),
		"cut short":    blob[:len(blob)-3],
		"no header":    blob[bytes.IndexByte(blob, '\n')+1:],
		"other format": append([]byte("hoist-seccomp 2"), blob[len("hoist-seccomp 1"):]...),
	} {
		if decodeBlob(b, set) != nil {
			t.Errorf("%s: blob accepted", name)
		}
	}
}
